{#- `HH:MM <IANA zone>` (EOD_CUTOVER) as {at: 'HH:MM', zone, is_midnight}; a malformed
    value fails the run with the value in the message. -#}
{% macro parse_cutover(cutover) -%}
    {%- set match = modules.re.match('^\\s*(\\d{2}):(\\d{2})\\s+([A-Za-z0-9_+/-]+)\\s*$', cutover or '') -%}
    {%- if not match or (match.group(1) | int) > 23 or (match.group(2) | int) > 59 -%}
        {{ exceptions.raise_compiler_error(
            "EOD_CUTOVER must look like 'HH:MM <IANA zone>', got '" ~ cutover ~ "'"
        ) }}
    {%- endif -%}
    {%- set at = match.group(1) ~ ':' ~ match.group(2) -%}
    {{ return({'at': at, 'zone': match.group(3), 'is_midnight': at == '00:00'}) }}
{%- endmacro %}

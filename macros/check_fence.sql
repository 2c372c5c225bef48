{#- pre-hook of every model, seed and snapshot: inside the node's transaction, refuse
    to write once the close that runs the build has lost its leadership (the fencing
    token the close passes as the `fencing_token` var is no longer the current one).
    A build without the var (`eod dbt`, the tests) is not a close's and checks nothing. -#}
{% macro check_fence() -%}
    {%- set token = var('fencing_token', none) -%}
    {%- if token is not none -%}
        select eod.check_fence({{ token | int }})
    {%- endif -%}
{%- endmacro %}

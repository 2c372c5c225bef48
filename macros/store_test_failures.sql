{#- on-run-end: keep the failing rows of D's data tests in audit.test_failures, keyed
    by (business_date, test_name). dbt's store_failures table of a test holds only
    its last run; this keeps every business date. A test that ran again for D first
    loses its earlier rows for D, so a rebuilt, fixed day shows no stale failures. -#}
{% macro store_test_failures(results) -%}
    {%- if not execute or var('business_date', none) is none -%}
        {{ return('') }}
    {%- endif -%}
    {%- set business_date = business_date_literal(var('business_date')) -%}
    {%- for res in results if res.node.resource_type == 'test' and res.node.compiled_code
        and res.status in ('pass', 'fail', 'warn') -%}
        {%- set name = res.node.name -%}
        {%- call statement('audit_' ~ loop.index) -%}
            {{ check_fence() }};
            delete from audit.test_failures
            where business_date = {{ business_date }} and test_name = '{{ name }}';
            {%- if res.status != 'pass' %}
            insert into audit.test_failures (business_date, test_name, failure)
            select {{ business_date }}, '{{ name }}', to_jsonb(failing)
            from ({{ res.node.compiled_code }}) as failing;
            {%- endif %}
            commit;
        {%- endcall -%}
    {%- endfor -%}
{%- endmacro %}

-- Finance reads the published proof-of-reserves roots as it reads every mart (the
-- dashboards' reserve ratio): dbt grants finance_reader on the models it builds, but
-- this table is the close's own (0301), so the grant is made here.
grant select on marts.proof_of_reserves to finance_reader;

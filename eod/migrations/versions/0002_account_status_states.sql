-- The account-state machine has eight states (CONTRACT section 9). Older platform
-- databases have a three-value enum (active, suspended, banned) with users in it:
-- extend it in place so every existing row keeps its value. The new values are
-- usable from the next migration on (Postgres forbids using them in this transaction).

alter type exchange.account_status add value if not exists 'pending_kyc' before 'active';
alter type exchange.account_status add value if not exists 'kyc_rejected' before 'active';
alter type exchange.account_status add value if not exists 'kyc_approved' before 'active';
alter type exchange.account_status add value if not exists 'restricted' after 'suspended';
alter type exchange.account_status add value if not exists 'closed' after 'restricted';

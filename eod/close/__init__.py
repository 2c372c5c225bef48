"""The close's own machinery: leader election, the step ledger, postings."""

"""The operations console's queries and actions, shared by its JSON API (web/api/ops/) and its
pages (web/pages/ops_*.py): who may see what (access), the audit log (audit), and one module per
area of the console."""

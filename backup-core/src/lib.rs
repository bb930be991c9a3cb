//! Orchestration, preflight and the XMLA client of pbi-backup.

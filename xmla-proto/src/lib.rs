//! XMLA and TMSL backup/restore messages, with no I/O.

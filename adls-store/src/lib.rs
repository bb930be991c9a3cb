//! Backup storage: ADLS Gen2 and local disk behind one async trait.

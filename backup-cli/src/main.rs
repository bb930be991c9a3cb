//! `pbi-backup`: back up and restore Power BI Premium semantic models and Azure Analysis Services databases.

fn main() {}

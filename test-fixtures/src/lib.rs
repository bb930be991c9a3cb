//! Simulators for tests and demos: the Power BI service (pbi-sim) and ADLS Gen2 DFS (dfs-emulator).

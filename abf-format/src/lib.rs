//! Read and write Analysis Services backup (.abf) containers, sans-IO.

"""Analysis: robust statistics, each environment's overhead against bare metal, run comparisons."""

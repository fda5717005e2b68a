"""petmtl: multi-task multi-scale learning for outcome prediction in 3D PET."""

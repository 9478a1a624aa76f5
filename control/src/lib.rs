//! ferrolb control plane.

//! Graph sim.

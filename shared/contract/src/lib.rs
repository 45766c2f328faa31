//! The port contract suite: what every implementation of a port must do, as async
//! functions that panic on a broken promise. Used only as a dev-dependency.

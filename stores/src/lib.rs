//! Stores for informer (in progress).

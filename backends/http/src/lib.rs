//! informer backend: http (being written).

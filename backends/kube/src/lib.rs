//! informer backend: kube (being written).

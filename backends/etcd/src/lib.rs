//! informer backend: etcd (being written).

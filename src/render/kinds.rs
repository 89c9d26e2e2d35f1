//! The one list of the kinds of child objects a cluster renders to. Everything that handles each
//! child kind (the [`ObjectRef`](super::ObjectRef) enum, the controller's caches and reflectors,
//! apply, orphan clean-up) is expanded from it, so a new kind is added here and nowhere else.

/// Calls `$callback!` with the child kinds as `Variant(Type) => store_field`, in the order orphans
/// are deleted: a removed pool's StatefulSet before its ConfigMap, the shared objects last.
#[macro_export]
macro_rules! with_child_kinds {
    ($callback:ident) => {
        $callback! {
            StatefulSet(::k8s_openapi::api::apps::v1::StatefulSet) => stateful_sets,
            ConfigMap(::k8s_openapi::api::core::v1::ConfigMap) => config_maps,
            Service(::k8s_openapi::api::core::v1::Service) => services,
            PodDisruptionBudget(::k8s_openapi::api::policy::v1::PodDisruptionBudget) => pod_disruption_budgets,
            ServiceAccount(::k8s_openapi::api::core::v1::ServiceAccount) => service_accounts,
        }
    };
}

//! The KRaft role of a pool's nodes: the one definition used by the model, the renderer (the
//! `app.kubernetes.io/component` label, `process.roles`), the roll planner and the controllers.

use std::fmt;

/// A node's KRaft roles. The declaration order is the roll order: controllers, then combined
/// nodes, then brokers. Serialises as its label value (`controller`, `combined`, `broker`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Controller,
    Combined,
    Broker,
}

impl Role {
    /// Every role, in roll order.
    pub const ALL: [Role; 3] = [Role::Controller, Role::Combined, Role::Broker];

    /// The role of a node that runs the controller, the broker, or both.
    pub fn from_roles(controller: bool, broker: bool) -> Role {
        match (controller, broker) {
            (true, true) => Role::Combined,
            (true, false) => Role::Controller,
            _ => Role::Broker,
        }
    }

    /// The `app.kubernetes.io/component` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Controller => "controller",
            Role::Combined => "combined",
            Role::Broker => "broker",
        }
    }

    /// The role a component label names.
    pub fn from_label(label: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == label)
    }

    /// Whether the node votes in the KRaft quorum.
    pub fn is_controller(self) -> bool {
        matches!(self, Role::Controller | Role::Combined)
    }

    /// Whether the node hosts partitions.
    pub fn is_broker(self) -> bool {
        matches!(self, Role::Broker | Role::Combined)
    }

    /// The `process.roles` value.
    pub fn process_roles(self) -> &'static str {
        match self {
            Role::Combined => "broker,controller",
            Role::Controller => "controller",
            Role::Broker => "broker",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_serialise_as_the_label() {
        for role in Role::ALL {
            assert_eq!(Role::from_label(role.as_str()), Some(role));
            assert_eq!(serde_json::to_value(role).expect("json"), serde_json::json!(role.as_str()));
        }
        assert_eq!(Role::from_label("zookeeper"), None);
        assert_eq!(Role::from_roles(true, true), Role::Combined);
    }
}

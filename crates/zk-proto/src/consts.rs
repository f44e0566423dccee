//! The numbers of the protocol: opcodes, error codes, watch events, create modes,
//! permissions, special xids. Values are Apache ZooKeeper's (`ZooDefs.OpCode`,
//! `KeeperException.Code`, `Watcher.Event`, `CreateMode`, `ZooDefs.Perms`).

use std::fmt;

/// Defines a fieldless enum over `i32` wire values with `code()` and `from_code()`.
macro_rules! int_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:expr, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $value, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire value.
            #[inline]
            pub const fn code(self) -> i32 {
                self as i32
            }

            /// The value for a wire code, if it is one.
            #[inline]
            pub const fn from_code(code: i32) -> Option<Self> {
                match code {
                    $( $value => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl From<$name> for i32 {
            fn from(v: $name) -> i32 {
                v as i32
            }
        }

        impl TryFrom<i32> for $name {
            type Error = i32;
            fn try_from(code: i32) -> Result<Self, i32> {
                Self::from_code(code).ok_or(code)
            }
        }
    };
}

int_enum! {
    /// Request types (`ZooDefs.OpCode`).
    pub enum OpCode {
        /// A watch notification (only as a txn/packet type).
        Notification = 0,
        /// create
        Create = 1,
        /// delete
        Delete = 2,
        /// exists
        Exists = 3,
        /// getData
        GetData = 4,
        /// setData
        SetData = 5,
        /// getACL
        GetAcl = 6,
        /// setACL
        SetAcl = 7,
        /// getChildren
        GetChildren = 8,
        /// sync
        Sync = 9,
        /// ping (xid -2)
        Ping = 11,
        /// getChildren2 (children and the parent's Stat)
        GetChildren2 = 12,
        /// check version, only inside multi
        Check = 13,
        /// multi (a transaction)
        Multi = 14,
        /// create2 (create returning the Stat)
        Create2 = 15,
        /// reconfig
        Reconfig = 16,
        /// checkWatches
        CheckWatches = 17,
        /// removeWatches
        RemoveWatches = 18,
        /// createContainer
        CreateContainer = 19,
        /// deleteContainer (server-internal: the container reaper)
        DeleteContainer = 20,
        /// createTTL
        CreateTtl = 21,
        /// multiRead
        MultiRead = 22,
        /// addAuth (xid -4)
        Auth = 100,
        /// setWatches (xid -8)
        SetWatches = 101,
        /// SASL token exchange
        Sasl = 102,
        /// getEphemerals
        GetEphemerals = 103,
        /// getAllChildrenNumber
        GetAllChildrenNumber = 104,
        /// setWatches2 (with persistent watches)
        SetWatches2 = 105,
        /// addWatch (persistent and persistent-recursive)
        AddWatch = 106,
        /// whoAmI
        WhoAmI = 107,
        /// session creation (txn type)
        CreateSession = -10,
        /// closeSession
        CloseSession = -11,
        /// a failed request (txn type)
        Error = -1,
    }
}

impl OpCode {
    /// True for requests that change the tree or sessions and so become a txn.
    /// Matches the write cases of `PrepRequestProcessor.pRequest`.
    pub const fn is_write(self) -> bool {
        matches!(
            self,
            OpCode::Create
                | OpCode::Create2
                | OpCode::CreateContainer
                | OpCode::CreateTtl
                | OpCode::Delete
                | OpCode::DeleteContainer
                | OpCode::SetData
                | OpCode::SetAcl
                | OpCode::Check
                | OpCode::Multi
                | OpCode::Reconfig
                | OpCode::CreateSession
                | OpCode::CloseSession
        )
    }
}

int_enum! {
    /// Error codes (`KeeperException.Code`).
    pub enum ErrorCode {
        /// Everything is OK.
        Ok = 0,
        /// A system or server-side error.
        SystemError = -1,
        /// A runtime inconsistency; also the result of ops after the failing one in a multi.
        RuntimeInconsistency = -2,
        /// A data inconsistency.
        DataInconsistency = -3,
        /// Connection to the server lost.
        ConnectionLoss = -4,
        /// Error while (un)marshalling data.
        MarshallingError = -5,
        /// Operation is unimplemented (e.g. TTL without extended types).
        Unimplemented = -6,
        /// Operation timeout.
        OperationTimeout = -7,
        /// Invalid arguments.
        BadArguments = -8,
        /// Unknown session (internal).
        UnknownSession = -12,
        /// No quorum of the new config is connected.
        NewConfigNoQuorum = -13,
        /// Another reconfiguration is in progress.
        ReconfigInProgress = -14,
        /// API errors start here (never returned itself).
        ApiError = -100,
        /// Node does not exist.
        NoNode = -101,
        /// Not authenticated.
        NoAuth = -102,
        /// Version conflict.
        BadVersion = -103,
        /// Ephemeral nodes may not have children.
        NoChildrenForEphemerals = -108,
        /// The node already exists.
        NodeExists = -110,
        /// The node has children.
        NotEmpty = -111,
        /// The session has been expired by the server.
        SessionExpired = -112,
        /// Invalid callback specified.
        InvalidCallback = -113,
        /// Invalid ACL specified.
        InvalidAcl = -114,
        /// Client authentication failed.
        AuthFailed = -115,
        /// Session moved to another server.
        SessionMoved = -118,
        /// State-changing request passed to a read-only server.
        NotReadOnly = -119,
        /// Attempt to create an ephemeral node on a local session.
        EphemeralOnLocalSession = -120,
        /// Attempt to remove a non-existing watcher.
        NoWatcher = -121,
        /// Request not completed within max allowed time.
        RequestTimeout = -122,
        /// Attempt to reconfigure while reconfig is disabled.
        ReconfigDisabled = -123,
        /// The session was closed because it did not authenticate with SASL.
        SessionClosedRequireSaslAuth = -124,
        /// Exceeded the quota set on the path.
        QuotaExceeded = -125,
        /// The operation was throttled.
        ThrottledOp = -127,
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({})", self, self.code())
    }
}

impl std::error::Error for ErrorCode {}

int_enum! {
    /// Types of watch notification (`Watcher.Event.EventType`).
    pub enum EventType {
        /// No node event: a connection state change.
        None = -1,
        /// The watched node was created.
        NodeCreated = 1,
        /// The watched node was deleted.
        NodeDeleted = 2,
        /// The watched node's data changed.
        NodeDataChanged = 3,
        /// The watched node's children changed.
        NodeChildrenChanged = 4,
        /// A data watch was removed.
        DataWatchRemoved = 5,
        /// A child watch was removed.
        ChildWatchRemoved = 6,
        /// A persistent watch was removed.
        PersistentWatchRemoved = 7,
    }
}

int_enum! {
    /// Connection states carried in notifications (`Watcher.Event.KeeperState`).
    pub enum KeeperState {
        /// Unknown (deprecated).
        Unknown = -1,
        /// Disconnected.
        Disconnected = 0,
        /// No sync connected (deprecated).
        NoSyncConnected = 1,
        /// Connected; every server notification carries this.
        SyncConnected = 3,
        /// Authentication failed.
        AuthFailed = 4,
        /// Connected to a read-only server.
        ConnectedReadOnly = 5,
        /// SASL authentication succeeded.
        SaslAuthenticated = 6,
        /// The session expired.
        Expired = -112,
        /// The client closed the session.
        Closed = 7,
    }
}

int_enum! {
    /// The kind of watch named in checkWatches/removeWatches (`Watcher.WatcherType`).
    pub enum WatcherType {
        /// Child watches.
        Children = 1,
        /// Data (and exist) watches.
        Data = 2,
        /// Any kind.
        Any = 3,
        /// Persistent watches.
        Persistent = 4,
        /// Persistent recursive watches.
        PersistentRecursive = 5,
    }
}

int_enum! {
    /// The mode of addWatch (`AddWatchMode`).
    pub enum AddWatchMode {
        /// Fires for the node's data and children, and stays.
        Persistent = 0,
        /// Fires for the node and every descendant, and stays.
        PersistentRecursive = 1,
    }
}

int_enum! {
    /// Create flags (`CreateMode`).
    pub enum CreateMode {
        /// A persistent node.
        Persistent = 0,
        /// An ephemeral node, deleted with its session.
        Ephemeral = 1,
        /// A persistent node with a 10-digit sequence suffix.
        PersistentSequential = 2,
        /// An ephemeral node with a sequence suffix.
        EphemeralSequential = 3,
        /// A container, deleted once its last child is gone.
        Container = 4,
        /// A persistent node deleted when unmodified and childless for its TTL.
        PersistentWithTtl = 5,
        /// A sequential node with a TTL.
        PersistentSequentialWithTtl = 6,
    }
}

impl CreateMode {
    /// Deleted with the owning session.
    pub const fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }
    /// Gets a sequence suffix.
    pub const fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }
    /// A container node.
    pub const fn is_container(self) -> bool {
        matches!(self, CreateMode::Container)
    }
    /// A TTL node.
    pub const fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }
}

/// Permission bits (`ZooDefs.Perms`).
pub mod perms {
    /// getData, getChildren, exists with data.
    pub const READ: i32 = 1;
    /// setData.
    pub const WRITE: i32 = 1 << 1;
    /// Create children.
    pub const CREATE: i32 = 1 << 2;
    /// Delete children.
    pub const DELETE: i32 = 1 << 3;
    /// setACL.
    pub const ADMIN: i32 = 1 << 4;
    /// Everything.
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// Reserved xids (`ClientCnxn`).
pub mod xid {
    /// A watch notification from the server.
    pub const NOTIFICATION: i32 = -1;
    /// A ping.
    pub const PING: i32 = -2;
    /// An addAuth request.
    pub const AUTH: i32 = -4;
    /// A setWatches request on reconnect.
    pub const SET_WATCHES: i32 = -8;
}

/// A transaction id: `epoch << 32 | counter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Zxid(pub i64);

impl Zxid {
    /// Builds a zxid from its epoch and counter.
    pub const fn new(epoch: u32, counter: u32) -> Self {
        Zxid(((epoch as i64) << 32) | counter as i64)
    }
    /// The leader epoch (high 32 bits).
    pub const fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }
    /// The counter within the epoch (low 32 bits).
    pub const fn counter(self) -> u32 {
        self.0 as u32
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// A session id; its top byte is the id of the server that created it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SessionId(pub i64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknowns_are_none() {
        for op in OpCode::ALL {
            assert_eq!(OpCode::from_code(op.code()), Some(*op));
        }
        for e in ErrorCode::ALL {
            assert_eq!(ErrorCode::try_from(e.code()), Ok(*e));
        }
        assert_eq!(OpCode::from_code(10), None);
        assert_eq!(ErrorCode::from_code(-9), None);
        assert_eq!(CreateMode::from_code(7), None);
    }

    #[test]
    fn numbers_match_apache_zookeeper() {
        assert_eq!(OpCode::WhoAmI.code(), 107);
        assert_eq!(OpCode::CloseSession.code(), -11);
        assert_eq!(ErrorCode::NoWatcher.code(), -121);
        assert_eq!(ErrorCode::ThrottledOp.code(), -127);
        assert_eq!(KeeperState::Expired.code(), -112);
        assert_eq!(perms::ALL, 31);
        assert!(CreateMode::PersistentSequentialWithTtl.is_ttl());
        assert!(CreateMode::PersistentSequentialWithTtl.is_sequential());
        assert!(!CreateMode::Container.is_ephemeral());
    }

    #[test]
    fn zxid_parts() {
        let z = Zxid::new(3, 7);
        assert_eq!(z.0, 0x0000_0003_0000_0007);
        assert_eq!((z.epoch(), z.counter()), (3, 7));
        assert_eq!(z.to_string(), "0x300000007");
    }
}

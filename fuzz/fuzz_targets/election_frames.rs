//! The election port over arbitrary bytes: an initial message, then length-prefixed
//! notification frames, fed in chunks whose size comes from the input.
//!
//! Checks, beyond "no panic": a decoded initial message re-encodes to bytes that decode to
//! the same message, and a decoded notification re-encoded in the form its length implies
//! decodes to the same value.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use zk_zab::wire::election::{decode_frame, InitialMessage, Notification, NotificationForm};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(ctl).max(1);
    let mut buf = BytesMut::new();
    let mut greeted = false;
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            if !greeted {
                match InitialMessage::decode(&mut buf) {
                    Ok(Some(m)) => {
                        let mut again = BytesMut::from(&m.to_bytes()[..]);
                        assert_eq!(InitialMessage::decode(&mut again).unwrap(), Some(m));
                        greeted = true;
                    }
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
            match decode_frame(&mut buf) {
                Ok(Some(frame)) => {
                    if let Ok(n) = Notification::decode(&frame) {
                        let form = match frame.len() {
                            28 => NotificationForm::Legacy28,
                            40 => NotificationForm::Legacy40,
                            _ if n.version > 1 => NotificationForm::V2,
                            _ => continue,
                        };
                        assert_eq!(Notification::decode(&n.to_bytes(form)).unwrap(), n);
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});

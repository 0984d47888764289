//! ZeroMQ CURVE keys: whether the bundled libzmq has CURVE, generating a
//! key pair, parsing a key written in Z85 (the 40-character text form that
//! configuration files and client options use) and deriving a public key
//! from its secret key.
//!
//! The server's use of the keys (every bound socket a CURVE server, the
//! allow-list checked by a ZAP handler) is in `server/sockets` and
//! `server/zap`; this module is what the front ends and clients share.

use std::ffi::CString;
use std::fmt;

use crate::{Error, Result};

/// The length of a key in Z85, in characters.
pub const KEY_Z85_LEN: usize = 40;
/// The length of a key, in bytes.
pub const KEY_LEN: usize = 32;

/// A CURVE key pair, both keys in Z85. `Debug` hides the secret key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// The public key: give it to the other side (a client's goes on the
    /// server's allow-list, the server's goes into client options).
    pub public: String,
    /// The secret key: keep it to the side that owns it.
    pub secret: String,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// Whether the libzmq in this build supports CURVE.
pub fn available() -> bool {
    zmq::has("curve").unwrap_or(false)
}

/// Fails with [`Error::Config`] when the libzmq in this build lacks CURVE.
pub fn require() -> Result<()> {
    if available() {
        Ok(())
    } else {
        Err(Error::Config(
            "this build's ZeroMQ has no CURVE support; curve keys cannot be used".into(),
        ))
    }
}

/// A new key pair from libzmq's random source (libsodium's).
///
/// Z85 has `%` in its alphabet, and a configuration file reads `%` as
/// interpolation (it must be written `%%` there, as Python's
/// `configparser` wants), and a command-line value that starts with `-`
/// reads as an option. So that the keys paste as they are into a
/// configuration file, a command line and client options alike, pairs with
/// a `%` in either key or a `-` first are drawn again: that keeps about 38%
/// of all pairs, a loss of under 1.5 bits of the secret key's 252.
///
/// Errors: [`Error::Config`] when libzmq lacks CURVE.
pub fn generate_keypair() -> Result<KeyPair> {
    require()?;
    loop {
        let pair = zmq::CurveKeyPair::new()?;
        let pair = KeyPair {
            public: encode(&pair.public_key),
            secret: encode(&pair.secret_key),
        };
        let pastes = |k: &str| !k.contains('%') && !k.starts_with('-');
        if pastes(&pair.public) && pastes(&pair.secret) {
            return Ok(pair);
        }
    }
}

/// The key written in Z85 as its 32 bytes; `what` names the key in the
/// error (`curve-secret-key`, an allow-list entry).
///
/// Errors: [`Error::Config`] unless `z85` is 40 characters of the Z85
/// alphabet.
pub fn parse_key(what: &str, z85: &str) -> Result<[u8; KEY_LEN]> {
    let bad = |why: &str| {
        Error::Config(format!(
            "{what} must be a CURVE key in Z85 ({KEY_Z85_LEN} characters): {why}"
        ))
    };
    if z85.len() != KEY_Z85_LEN {
        return Err(bad(&format!("it has {} characters", z85.chars().count())));
    }
    z85_decode(z85).ok_or_else(|| bad("it is not Z85"))
}

/// The Z85 alphabet (ZeroMQ RFC 32), in digit order.
const Z85: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Decodes 40 characters of Z85; `None` for a character outside the
/// alphabet or a group of five worth more than 32 bits. (The zmq crate's
/// decoder checks neither.)
fn z85_decode(z85: &str) -> Option<[u8; KEY_LEN]> {
    let mut out = [0u8; KEY_LEN];
    for (group, chunk) in z85.as_bytes().chunks_exact(5).enumerate() {
        let mut value: u64 = 0;
        for c in chunk {
            let digit = Z85.iter().position(|z| z == c)?;
            value = value * 85 + digit as u64;
        }
        let value = u32::try_from(value).ok()?;
        out.get_mut(group * 4..group * 4 + 4)?
            .copy_from_slice(&value.to_be_bytes());
    }
    Some(out)
}

/// The key in Z85.
pub fn encode(key: &[u8; KEY_LEN]) -> String {
    zmq::z85_encode(key).expect("32 bytes are a multiple of 4")
}

/// The public key (Z85) that belongs to `secret` (Z85).
///
/// Errors: [`Error::Config`] for a malformed secret key or when libzmq
/// lacks CURVE.
pub fn public_key_of(secret: &str) -> Result<String> {
    parse_key("the secret key", secret)?;
    require()?;
    let secret = CString::new(secret).map_err(|_| Error::Config("NUL in a key".into()))?;
    let mut public = [0u8; KEY_Z85_LEN + 1];
    // SAFETY: `public` has room for 40 characters and the NUL libzmq
    // writes; `secret` is a NUL-terminated 40-character Z85 string.
    let rc = unsafe { zmq_curve_public(public.as_mut_ptr().cast(), secret.as_ptr()) };
    if rc != 0 {
        return Err(Error::Config(
            "libzmq could not derive the public key of the secret key".into(),
        ));
    }
    Ok(String::from_utf8_lossy(&public[..KEY_Z85_LEN]).into_owned())
}

// libzmq's (zmq.h), linked through zmq-sys, which declares it but does not
// export it.
extern "C" {
    fn zmq_curve_public(
        z85_public_key: *mut std::os::raw::c_char,
        z85_secret_key: *const std::os::raw::c_char,
    ) -> std::os::raw::c_int;
}

/// The comma-separated keys of an allow-list, each checked; blanks around
/// commas and empty entries are ignored.
///
/// Errors: [`Error::Config`] naming the first malformed entry.
pub fn split_keys(what: &str, list: &str) -> Result<Vec<String>> {
    list.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| parse_key(&format!("{what} entry '{k}'"), k).map(|_| k.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of ZeroMQ's documentation (zmq_curve, "EXAMPLE").
    const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

    #[test]
    fn the_bundled_libzmq_has_curve() {
        assert_eq!(zmq::has("curve"), Some(true));
        assert!(available());
        require().unwrap();
    }

    #[test]
    fn a_public_key_is_derived_from_its_secret() {
        assert_eq!(public_key_of(SERVER_SECRET).unwrap(), SERVER_PUBLIC);
    }

    #[test]
    fn generated_pairs_are_new_valid_and_match() {
        let a = generate_keypair().unwrap();
        let b = generate_keypair().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.public.len(), KEY_Z85_LEN);
        parse_key("public", &a.public).unwrap();
        parse_key("secret", &a.secret).unwrap();
        assert_eq!(public_key_of(&a.secret).unwrap(), a.public);
        assert!(!format!("{a:?}").contains(&a.secret));
        for _ in 0..50 {
            let p = generate_keypair().unwrap();
            for k in [&p.public, &p.secret] {
                assert!(!k.contains('%') && !k.starts_with('-'), "{k}");
            }
        }
    }

    #[test]
    fn keys_parse_and_round_trip() {
        let k = parse_key("k", SERVER_PUBLIC).unwrap();
        assert_eq!(encode(&k), SERVER_PUBLIC);
        // RFC 32's test vector, eight times over.
        let hello = "HelloWorld".repeat(4);
        let k = parse_key("k", &hello).unwrap();
        assert_eq!(k[..8], [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]);
        assert_eq!(encode(&k), hello);
    }

    #[test]
    fn malformed_keys_are_configuration_errors_naming_the_key() {
        for (bad, why) in [
            ("", "0 characters"),
            (&SERVER_PUBLIC[..39], "39 characters"),
            ("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7x", "41 characters"),
            ("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf\"", "not Z85"),
            ("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf~", "not Z85"),
        ] {
            let e = parse_key("curve-secret-key", bad).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{e:?}");
            let m = e.to_string();
            assert!(m.contains("curve-secret-key") && m.contains(why), "{m}");
        }
        // Five characters worth more than 32 bits.
        let e = parse_key("k", &format!("{}#####", &SERVER_PUBLIC[..35])).unwrap_err();
        assert!(e.to_string().contains("not Z85"), "{e}");
        assert!(public_key_of("short").is_err());
    }

    #[test]
    fn allow_lists_split_on_commas_and_check_every_key() {
        let list = format!(" {SERVER_PUBLIC} ,,{SERVER_SECRET}, ");
        assert_eq!(
            split_keys("curve-allowed-clients", &list).unwrap(),
            vec![SERVER_PUBLIC, SERVER_SECRET]
        );
        assert!(split_keys("curve-allowed-clients", "").unwrap().is_empty());
        let e = split_keys("curve-allowed-clients", &format!("{SERVER_PUBLIC},nope"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("curve-allowed-clients entry 'nope'"), "{e}");
    }
}

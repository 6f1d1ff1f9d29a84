//! Verifying a signed API document: a JWS in the general JSON serialization with an unencoded
//! payload (RFC 7797), as `formula.jws.json` is:
//!
//! ```text
//! {"payload": "<the JSON document, as a string>",
//!  "signatures": [{"protected": "<base64url {\"alg\":\"PS512\",\"b64\":false,...}>",
//!                  "header": {"kid": "homebrew-1"}, "signature": "<base64url>"}]}
//! ```
//!
//! The signing input is `protected + "." + payload`, signed with RSASSA-PSS over SHA-512
//! (MGF1-SHA-512, a 64-byte salt): what `brew` checks in `Homebrew::API.verify_jws_signature`.

use std::borrow::Cow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs8::DecodePublicKey;
use rsa::sha2::{Digest, Sha512};
use rsa::signature::DigestVerifier;
use serde::Deserialize;

/// Homebrew's published key (`Library/Homebrew/api/homebrew-1.pem` in Homebrew/brew).
pub const HOMEBREW_KEY_PEM: &str = include_str!("../homebrew-1.pem");

/// The most signatures one document may carry before velo stops trying them: each costs a
/// SHA-512 pass over the whole payload.
const MAX_SIGNATURES: usize = 4;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwsError {
    #[error("it is not a signed JSON document: {0}")]
    Malformed(String),
    #[error("it carries no PS512 signature with an unencoded payload")]
    NoSignature,
    #[error("its signature does not match the trusted key")]
    Mismatch,
}

/// A public key that documents must be signed with.
#[derive(Clone)]
pub struct TrustedKey {
    key: rsa::pss::VerifyingKey<Sha512>,
    /// A short digest of the key, recorded with what it verified so that a cached copy is
    /// not trusted under another key.
    pub fingerprint: String,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustedKey({})", self.fingerprint)
    }
}

impl TrustedKey {
    /// Homebrew's own key.
    pub fn homebrew() -> Self {
        Self::from_pem(HOMEBREW_KEY_PEM).expect("the built-in key is a valid PEM public key")
    }

    /// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo) holding an RSA key.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let key = rsa::RsaPublicKey::from_public_key_pem(pem.trim()).map_err(|err| err.to_string())?;
        let der = rsa::pkcs8::EncodePublicKey::to_public_key_der(&key).map_err(|err| err.to_string())?;
        let fingerprint = hex::encode(&Sha512::digest(der.as_bytes())[..12]);
        Ok(Self {
            key: rsa::pss::VerifyingKey::new(key),
            fingerprint,
        })
    }
}

#[derive(Deserialize)]
struct Document<'a> {
    #[serde(borrow)]
    payload: Cow<'a, str>,
    signatures: Vec<Signature>,
}

#[derive(Deserialize)]
struct Signature {
    protected: String,
    signature: String,
}

#[derive(Deserialize)]
struct Protected {
    alg: String,
    #[serde(default = "yes")]
    b64: bool,
}

fn yes() -> bool {
    true
}

/// The payload of the signed document `bytes`, when one of its signatures verifies with `key`.
pub fn verify<'a>(bytes: &'a [u8], key: &TrustedKey) -> Result<Cow<'a, str>, JwsError> {
    let document: Document<'a> =
        serde_json::from_slice(bytes).map_err(|err| JwsError::Malformed(err.to_string()))?;
    let mut candidates = 0;
    for signature in document.signatures.iter().take(MAX_SIGNATURES) {
        let Some(protected) = URL_SAFE_NO_PAD
            .decode(signature.protected.trim_end_matches('='))
            .ok()
            .and_then(|json| serde_json::from_slice::<Protected>(&json).ok())
        else {
            continue;
        };
        // `b64: false` says the payload is signed as it is; anything else is another scheme.
        if protected.alg != "PS512" || protected.b64 {
            continue;
        }
        let Some(signature_bytes) = URL_SAFE_NO_PAD
            .decode(signature.signature.trim_end_matches('='))
            .ok()
            .and_then(|bytes| rsa::pss::Signature::try_from(bytes.as_slice()).ok())
        else {
            continue;
        };
        candidates += 1;
        let mut digest = Sha512::new();
        digest.update(signature.protected.as_bytes());
        digest.update(b".");
        digest.update(document.payload.as_bytes());
        if key.key.verify_digest(digest, &signature_bytes).is_ok() {
            return Ok(document.payload);
        }
    }
    Err(if candidates == 0 {
        JwsError::NoSignature
    } else {
        JwsError::Mismatch
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_KEY: &str = include_str!("../../../../tests/fixtures/homebrew/test-key.pem");
    const TEST_PUBLIC: &str = include_str!("../../../../tests/fixtures/homebrew/test-key.pub.pem");
    const OTHER_KEY: &str = include_str!("../../../../tests/fixtures/homebrew/other-key.pem");

    /// Randomness for the PSS salt and blinding, from the OS.
    struct TestRng;

    impl rsa::rand_core::CryptoRng for TestRng {}

    impl rsa::rand_core::RngCore for TestRng {
        fn next_u32(&mut self) -> u32 {
            fastrand::u32(..)
        }
        fn next_u64(&mut self) -> u64 {
            fastrand::u64(..)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            getrandom::fill(dest).expect("OS randomness");
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    /// Sign `payload` as `formula.jws.json` is signed.
    fn sign(payload: &str, private_key_pem: &str) -> String {
        use rsa::pkcs8::DecodePrivateKey;
        use rsa::signature::RandomizedDigestSigner;
        use rsa::signature::SignatureEncoding;
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(private_key_pem).expect("a PEM private key");
        let key = rsa::pss::BlindedSigningKey::<Sha512>::new(key);
        let protected = URL_SAFE_NO_PAD.encode(r#"{"alg":"PS512","b64":false,"crit":["b64"]}"#);
        let mut digest = Sha512::new();
        digest.update(protected.as_bytes());
        digest.update(b".");
        digest.update(payload.as_bytes());
        let signature = key.sign_digest_with_rng(&mut TestRng, digest);
        let signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        serde_json::json!({
            "payload": payload,
            "signatures": [{"protected": protected, "header": {"kid": "homebrew-1"}, "signature": signature}],
        })
        .to_string()
    }

    #[test]
    fn the_built_in_key_is_homebrews() {
        let key = TrustedKey::homebrew();
        // Homebrew's key is 4096-bit RSA; a shorter one would be a different key.
        assert!(HOMEBREW_KEY_PEM.starts_with("-----BEGIN PUBLIC KEY-----\nMIICIjANBgkqhkiG9w0BAQEFAAOCAg8A"));
        assert_eq!(key.fingerprint.len(), 24);
    }

    #[test]
    fn verifies_what_the_key_signed() {
        let key = TrustedKey::from_pem(TEST_PUBLIC).unwrap();
        let payload = "[{\"name\":\"wget\",\"desc\":\"a \\\"quoted\\\" word\"}]";
        let document = sign(payload, TEST_KEY);
        assert_eq!(verify(document.as_bytes(), &key).unwrap(), payload);
    }

    #[test]
    fn refuses_other_keys_and_tampering() {
        let key = TrustedKey::from_pem(TEST_PUBLIC).unwrap();
        let document = sign("[]", OTHER_KEY);
        assert_eq!(verify(document.as_bytes(), &key), Err(JwsError::Mismatch));
        let document = sign("[{\"name\":\"wget\"}]", TEST_KEY).replace("wget", "wgot");
        assert_eq!(verify(document.as_bytes(), &key), Err(JwsError::Mismatch));
        // Homebrew's key did not sign a test document either.
        let document = sign("[]", TEST_KEY);
        assert_eq!(
            verify(document.as_bytes(), &TrustedKey::homebrew()),
            Err(JwsError::Mismatch)
        );
    }

    #[test]
    fn refuses_other_schemes() {
        let key = TrustedKey::from_pem(TEST_PUBLIC).unwrap();
        let document: serde_json::Value = serde_json::from_str(&sign("[]", TEST_KEY)).unwrap();
        let mut none = document.clone();
        none["signatures"][0]["protected"] = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#).into();
        assert_eq!(
            verify(none.to_string().as_bytes(), &key),
            Err(JwsError::NoSignature)
        );
        let mut encoded = document.clone();
        encoded["signatures"][0]["protected"] = URL_SAFE_NO_PAD.encode(r#"{"alg":"PS512"}"#).into();
        assert_eq!(
            verify(encoded.to_string().as_bytes(), &key),
            Err(JwsError::NoSignature)
        );
        let mut unsigned = document;
        unsigned["signatures"] = serde_json::json!([]);
        assert_eq!(
            verify(unsigned.to_string().as_bytes(), &key),
            Err(JwsError::NoSignature)
        );
        assert!(matches!(verify(b"[]", &key), Err(JwsError::Malformed(_))));
    }
}

//! The remote build cache's wire format, shared by the client in `velo run` ([`crate::run::remote`])
//! and the server (`velo serve`).
//!
//! A run makes one negotiation, `POST /v1/negotiate`, listing every key it wants to download or
//! upload; the server answers each with a URL to move the bytes with (presigned for object
//! storage, signed by the server itself for its local driver). The objects are [`Envelope`]s: a
//! header line naming the key, the artifact's blake3 and size and, when the uploader had a
//! signing key, an HMAC-SHA256 over them; then the artifact.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Keys are 1 to this many hex digits.
pub const MAX_KEY_LEN: usize = 128;

/// The header `velo` sends the bearer token in.
pub const AUTHORIZATION: &str = "authorization";

/// Whether `key` is a valid cache key: 1 to 128 hex digits. Checked by the server before the key
/// reaches storage, so it can never name a path or an object outside the cache.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_hexdigit())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NegotiateRequest {
    pub items: Vec<RequestItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestItem {
    pub hash: String,
    pub action: Action,
    /// For uploads: the object's size, so the server can refuse what is too large before any
    /// byte moves and sign the length into the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Download,
    Upload,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NegotiateResponse {
    pub items: Vec<ResponseItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseItem {
    pub hash: String,
    pub status: Status,
    /// For `found` and `upload_needed`: where to GET or PUT the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Headers the request to `url` must carry (they are part of its signature).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// For `found`: the object's size when storage reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Found,
    Missing,
    UploadNeeded,
    Skipped,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Read,
    ReadWrite,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scope::Read => "read",
            Scope::ReadWrite => "read-write",
        })
    }
}

/// How the server keeps the first upload of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirstWriteWins {
    /// Storage refuses a second write of a key (create-new on disk, `If-None-Match: *` in S3).
    Atomic,
    /// Storage would overwrite: the server only checks for the key before handing out a URL.
    Checked,
}

/// `GET /v1/status`: what the caller's token may do, and how the server stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusResponse {
    pub scope: Scope,
    pub storage: String,
    pub first_write_wins: FirstWriteWins,
    pub version: String,
}

/// The body of an error response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// The first line of every cache object.
pub const ENVELOPE_MAGIC: &[u8] = b"velo-cache-object-v1\n";
/// The header line may not be longer than this.
const MAX_HEADER: u64 = 4096;

/// The header of a cache object; the artifact follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub key: String,
    pub blake3: String,
    pub size: u64,
    /// HMAC-SHA256 (hex) over [`Envelope::signed_text`], with the uploader's signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("it is not a velo cache object")]
    NotAnObject,
    #[error("its header is damaged")]
    BadHeader,
    #[error("it is for key {found}, not {expected}")]
    WrongKey { expected: String, found: String },
    #[error("its artifact has blake3 {found} ({found_size} bytes), but its header says {expected} ({expected_size} bytes)")]
    Digest {
        expected: String,
        expected_size: u64,
        found: String,
        found_size: u64,
    },
    #[error("it is not signed, and `VELO_CACHE_SIGNING_KEY` requires a signature")]
    Unsigned,
    #[error("its signature does not match `VELO_CACHE_SIGNING_KEY`")]
    BadSignature,
}

impl Envelope {
    /// The header for an artifact, signed when there is a signing key.
    pub fn new(key: &str, blake3: &str, size: u64, signing_key: Option<&[u8]>) -> Self {
        let mut envelope = Self {
            key: key.to_string(),
            blake3: blake3.to_string(),
            size,
            hmac: None,
        };
        envelope.hmac = signing_key.map(|secret| hex::encode(envelope.mac(secret).finalize().into_bytes()));
        envelope
    }

    fn signed_text(&self) -> String {
        format!(
            "velo-cache-object-v1\n{}\n{}\n{}",
            self.key, self.blake3, self.size
        )
    }

    fn mac(&self, secret: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(self.signed_text().as_bytes());
        mac
    }

    /// The bytes that precede the artifact in the object.
    pub fn header_bytes(&self) -> Vec<u8> {
        let mut bytes = ENVELOPE_MAGIC.to_vec();
        serde_json::to_writer(&mut bytes, self).expect("an envelope serializes");
        bytes.push(b'\n');
        bytes
    }

    /// Read the header from the start of an object; the reader is left at the artifact.
    pub fn read(reader: &mut impl BufRead) -> Result<Self, EnvelopeError> {
        let mut magic = vec![0; ENVELOPE_MAGIC.len()];
        reader
            .read_exact(&mut magic)
            .map_err(|_| EnvelopeError::NotAnObject)?;
        if magic != ENVELOPE_MAGIC {
            return Err(EnvelopeError::NotAnObject);
        }
        let mut line = Vec::new();
        reader
            .take(MAX_HEADER)
            .read_until(b'\n', &mut line)
            .map_err(|_| EnvelopeError::BadHeader)?;
        if line.pop() != Some(b'\n') {
            return Err(EnvelopeError::BadHeader);
        }
        serde_json::from_slice(&line).map_err(|_| EnvelopeError::BadHeader)
    }

    /// Check the header against the key that was asked for and, with a signing key, its
    /// signature (compared in constant time).
    pub fn check(&self, key: &str, signing_key: Option<&[u8]>) -> Result<(), EnvelopeError> {
        if self.key != key {
            return Err(EnvelopeError::WrongKey {
                expected: key.to_string(),
                found: self.key.clone(),
            });
        }
        let Some(secret) = signing_key else {
            return Ok(());
        };
        let Some(signature) = &self.hmac else {
            return Err(EnvelopeError::Unsigned);
        };
        let signature = hex::decode(signature).map_err(|_| EnvelopeError::BadSignature)?;
        self.mac(secret)
            .verify_slice(&signature)
            .map_err(|_| EnvelopeError::BadSignature)
    }

    /// Check the artifact's digest and size against the header.
    pub fn check_digest(&self, blake3: &str, size: u64) -> Result<(), EnvelopeError> {
        if blake3 == self.blake3 && size == self.size {
            return Ok(());
        }
        Err(EnvelopeError::Digest {
            expected: self.blake3.clone(),
            expected_size: self.size,
            found: blake3.to_string(),
            found_size: size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(valid_key("0"));
        assert!(valid_key(&"a".repeat(128)));
        assert!(valid_key("DEADbeef"));
        for bad in ["", "../etc/passwd", "abc/def", "xyz", "a b", "%2e%2e"] {
            assert!(!valid_key(bad), "{bad}");
        }
        assert!(!valid_key(&"a".repeat(129)));
    }

    #[test]
    fn envelope_round_trip_and_signatures() {
        let signed = Envelope::new("ab", "cd", 3, Some(b"secret"));
        let mut bytes = signed.header_bytes();
        bytes.extend_from_slice(b"xyz");
        let mut reader = std::io::Cursor::new(bytes);
        let read = Envelope::read(&mut reader).unwrap();
        assert_eq!(read, signed);
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"xyz");
        assert_eq!(read.check("ab", Some(b"secret")), Ok(()));
        assert_eq!(read.check("ab", None), Ok(()));
        assert_eq!(read.check("ab", Some(b"other")), Err(EnvelopeError::BadSignature));
        assert!(matches!(
            read.check("ff", None),
            Err(EnvelopeError::WrongKey { .. })
        ));
        let unsigned = Envelope::new("ab", "cd", 3, None);
        assert_eq!(
            unsigned.check("ab", Some(b"secret")),
            Err(EnvelopeError::Unsigned)
        );
        // A header edited to fit another artifact fails the signature.
        let mut forged = signed.clone();
        forged.blake3 = "ee".to_string();
        assert_eq!(
            forged.check("ab", Some(b"secret")),
            Err(EnvelopeError::BadSignature)
        );
        assert_eq!(
            Envelope::read(&mut std::io::Cursor::new(b"PK\x03\x04".to_vec())),
            Err(EnvelopeError::NotAnObject)
        );
    }
}

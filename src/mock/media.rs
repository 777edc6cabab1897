//! Image and audio content parts, checked the way vLLM's media loading checks them: a
//! `data:` URL whose type matches the part, base64 that decodes, bytes that are an image
//! (PNG, JPEG, GIF header with sane dimensions) or audio (WAV, MP3). Pixels are never decoded.

use base64::Engine as _;

/// Largest image accepted, in pixels (where PIL raises its decompression-bomb error).
pub const MAX_PIXELS: u64 = 2 * 89_478_485;

/// Why a media part was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MediaError {
    /// The base64 does not decode (bug `500-on-bad-base64` answers this with a 500).
    #[error("invalid base64 data: {0}")]
    BadBase64(String),
    /// Anything else wrong with it (400).
    #[error("{0}")]
    Bad(String),
}

fn bad(m: impl Into<String>) -> MediaError {
    MediaError::Bad(m.into())
}

fn decode(data: &str) -> Result<Vec<u8>, MediaError> {
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| MediaError::BadBase64(e.to_string()))
}

/// Check an `image_url` URL; returns the image's width and height.
pub fn image_url(url: &str) -> Result<(u64, u64), MediaError> {
    let Some(rest) = url.strip_prefix("data:") else {
        let scheme = url.split(':').next().unwrap_or("");
        return Err(bad(format!(
            "unsupported image URL scheme `{scheme}`: this server takes data: URLs only"
        )));
    };
    let Some((meta, data)) = rest.split_once(',') else {
        return Err(bad("malformed data URL: no `,` before the data"));
    };
    let mut meta = meta.split(';');
    let mime = meta.next().unwrap_or("");
    if !mime.starts_with("image/") {
        return Err(bad(format!(
            "unsupported media type `{mime}` for an image_url part"
        )));
    }
    if !meta.any(|m| m == "base64") {
        return Err(bad("only base64 data URLs are supported"));
    }
    let bytes = decode(data)?;
    if bytes.is_empty() {
        return Err(bad("the image data is empty"));
    }
    let (w, h) = image_dims(&bytes).ok_or_else(|| bad("cannot identify image file"))?;
    if w == 0 || h == 0 {
        return Err(bad(format!("invalid image size {w}x{h}")));
    }
    if w.saturating_mul(h) > MAX_PIXELS {
        return Err(bad(format!(
            "image size {w}x{h} ({} pixels) exceeds the limit of {MAX_PIXELS} pixels",
            w.saturating_mul(h)
        )));
    }
    Ok((w, h))
}

/// Check an `input_audio` part's data and format.
pub fn audio(data: &str, format: &str) -> Result<(), MediaError> {
    if !matches!(format, "wav" | "mp3") {
        return Err(bad(format!(
            "unsupported audio format `{format}`, expected `wav` or `mp3`"
        )));
    }
    let b = decode(data)?;
    let wav = b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WAVE";
    let mp3 = b.starts_with(b"ID3") || (b.len() >= 2 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0);
    if !(wav || mp3) {
        return Err(bad("cannot decode the audio data"));
    }
    Ok(())
}

fn be16(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

fn be32(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 4)?;
    Some(u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])))
}

/// Width and height from an image header.
fn image_dims(b: &[u8]) -> Option<(u64, u64)> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        if b.get(12..16)? != b"IHDR" {
            return None;
        }
        return Some((be32(b, 16)?, be32(b, 20)?));
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        let le = |at: usize| {
            Some(u64::from(u16::from_le_bytes([
                *b.get(at)?,
                *b.get(at + 1)?,
            ])))
        };
        return Some((le(6)?, le(8)?));
    }
    if b.starts_with(&[0xFF, 0xD8]) {
        // Walk the segments to the first start-of-frame.
        let mut i = 2;
        while i + 4 <= b.len() {
            if b[i] != 0xFF {
                return None;
            }
            let marker = b[i + 1];
            let len = be16(b, i + 2)? as usize;
            let sof = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
            if sof {
                return Some((be16(b, i + 7)?, be16(b, i + 5)?));
            }
            i += 2 + len;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> String {
        let mut b = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        b.extend_from_slice(&w.to_be_bytes());
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    #[test]
    fn images() {
        assert_eq!(
            image_url(&format!("data:image/png;base64,{}", png(1, 1))),
            Ok((1, 1))
        );
        assert!(matches!(
            image_url(&format!("data:image/png;base64,{}", png(16384, 16384))),
            Err(MediaError::Bad(_))
        ));
        assert!(matches!(
            image_url("data:image/png;base64,!!!"),
            Err(MediaError::BadBase64(_))
        ));
        assert!(image_url("data:image/png;base64,aGVsbG8gd29ybGQ=").is_err());
        assert!(image_url(&format!("data:text/plain;base64,{}", png(1, 1))).is_err());
        assert!(image_url("file:///etc/passwd").is_err());
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 11, 8, 0, 20, 0, 30, 3,
        ];
        assert_eq!(image_dims(&jpeg), Some((30, 20)));
    }

    #[test]
    fn audio_parts() {
        let wav = base64::engine::general_purpose::STANDARD.encode(b"RIFF\0\0\0\0WAVEfmt ");
        assert_eq!(audio(&wav, "wav"), Ok(()));
        assert!(matches!(audio("!!", "wav"), Err(MediaError::BadBase64(_))));
        assert!(matches!(audio("aGVsbG8=", "wav"), Err(MediaError::Bad(_))));
        assert!(matches!(audio(&wav, "midi"), Err(MediaError::Bad(_))));
    }
}

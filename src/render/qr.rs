//! QR codes of landing URLs: encoded once into a [`QrMatrix`], then drawn as SVG, as PNG,
//! or as a PDF path on a card ([`super::cards`]). All three draw the same modules with the
//! same quiet zone, so what a test decodes from one is what the others show.

use image::{GrayImage, ImageEncoder, Luma};
use qrcode::{Color, EcLevel, QrCode};

use crate::error::{Code, Error, Result};

/// The error-correction level of every code Bondhu draws: Q, which restores up to a
/// quarter of the code. These codes are printed on cards that live in riders' pockets and
/// inside parcels: creased, smudged, sometimes wet. L and M (7 %, 15 %) give up on one
/// smudged corner; H (30 %) needs more modules for the same URL, so at the same printed
/// size (about 25 mm) every module gets smaller, which cheap phone cameras handle worse
/// than the few extra percent of damage H would repair.
pub const EC_LEVEL: EcLevel = EcLevel::Q;

/// The light margin around a code, in modules: 4, the minimum the standard asks for.
/// Scanners find the code by its finder patterns against this margin, so it is always
/// drawn, never cropped to save space.
pub const QUIET_ZONE: usize = 4;

/// The modules of one QR code, quiet zone excluded.
#[derive(Debug, Clone)]
pub struct QrMatrix {
    /// Modules per side.
    width: usize,
    /// Row-major, `true` for a dark module.
    dark: Vec<bool>,
}

impl QrMatrix {
    /// Encodes `text` (a landing URL) at [`EC_LEVEL`], in the smallest version that fits.
    pub fn encode(text: &str) -> Result<Self> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EC_LEVEL).map_err(|e| {
            // Landing URLs are ~60 bytes; a version 40 code holds 1,600 at Q. Reaching this
            // means PUBLIC_URL is absurdly long: a bug in the configuration, not the request.
            Error::Internal(anyhow::anyhow!(
                "encoding a QR code of {} bytes: {e:?}",
                text.len()
            ))
        })?;
        Ok(Self {
            width: code.width(),
            dark: code
                .to_colors()
                .into_iter()
                .map(|c| c == Color::Dark)
                .collect(),
        })
    }

    /// Modules per side, without the quiet zone.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Modules per side, with the quiet zone on both sides: what a drawing's size is
    /// divided into.
    pub fn width_with_quiet_zone(&self) -> usize {
        self.width + 2 * QUIET_ZONE
    }

    /// Whether the module in column `x`, row `y` (quiet zone excluded) is dark.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.width && self.dark[y * self.width + x]
    }

    /// The horizontal runs of dark modules, as `(row, first column, length)` without the
    /// quiet zone: drawings fill one rectangle per run instead of one per module, which
    /// keeps SVGs and PDFs several times smaller.
    pub fn dark_runs(&self) -> Vec<(usize, usize, usize)> {
        let mut runs = Vec::new();
        for y in 0..self.width {
            let mut x = 0;
            while x < self.width {
                if self.is_dark(x, y) {
                    let start = x;
                    while x < self.width && self.is_dark(x, y) {
                        x += 1;
                    }
                    runs.push((y, start, x - start));
                } else {
                    x += 1;
                }
            }
        }
        runs
    }
}

/// The size of a QR image in pixels (`?size=`): its width and height, quiet zone
/// included. [`QrSize::DEFAULT`] when absent; refused outside
/// [`QrSize::MIN`]`..=`[`QrSize::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QrSize(u32);

impl QrSize {
    /// 512 px: sharp on a phone screen and on a printed page at 300 dpi up to 43 mm.
    pub const DEFAULT: u32 = 512;
    /// 128 px: below that a long landing URL's code would have less than two pixels per
    /// module, which scanners misread.
    pub const MIN: u32 = 128;
    /// 2048 px: enough for a poster; more only costs the server memory and time.
    pub const MAX: u32 = 2048;

    /// The size asked for in the query, checked.
    pub fn from_query(size: Option<u32>) -> Result<Self> {
        match size {
            None => Ok(Self(Self::DEFAULT)),
            Some(px) if (Self::MIN..=Self::MAX).contains(&px) => Ok(Self(px)),
            Some(_) => Err(Error::new(
                Code::InvalidQuery,
                format!(
                    "size must be between {} and {} pixels",
                    Self::MIN,
                    Self::MAX
                ),
            )),
        }
    }

    /// Pixels.
    pub fn pixels(self) -> u32 {
        self.0
    }
}

/// The code as an SVG document `size` pixels wide. The drawing is in module units (a
/// `viewBox` of the code with its quiet zone), so it scales to any size without blur;
/// `shape-rendering="crispEdges"` keeps browsers from anti-aliasing module edges.
pub fn svg(matrix: &QrMatrix, size: QrSize) -> String {
    use std::fmt::Write;

    let n = matrix.width_with_quiet_zone();
    let px = size.pixels();
    let mut svg = format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{px}" height="{px}" "#,
            r#"viewBox="0 0 {n} {n}" shape-rendering="crispEdges">"#,
            r##"<rect width="{n}" height="{n}" fill="#fff"/><path fill="#000" d=""##
        ),
        px = px,
        n = n
    );
    for (y, x, len) in matrix.dark_runs() {
        // Writing to a String cannot fail.
        let _ = write!(
            svg,
            "M{} {}h{len}v1h-{len}z",
            x + QUIET_ZONE,
            y + QUIET_ZONE
        );
    }
    svg.push_str(r#""/></svg>"#);
    svg
}

/// The code as a greyscale PNG at most `size` pixels wide: every module is the same whole
/// number of pixels (a blurred module edge is what makes scanners fail), so the image is
/// the largest multiple of the module count that fits.
pub fn png(matrix: &QrMatrix, size: QrSize) -> Result<Vec<u8>> {
    let n = matrix.width_with_quiet_zone() as u32;
    let module = (size.pixels() / n).max(1);
    let side = n * module;
    let image = GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = ((x / module) as usize, (y / module) as usize);
        let dark = mx >= QUIET_ZONE
            && my >= QUIET_ZONE
            && matrix.is_dark(mx - QUIET_ZONE, my - QUIET_ZONE);
        Luma([if dark { 0 } else { 255 }])
    });
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(image.as_raw(), side, side, image::ExtendedColorType::L8)
        .map_err(|e| Error::Internal(anyhow::Error::new(e).context("encoding a QR PNG")))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://bondhu.example/r/REF000123?ch=qr";

    #[test]
    fn sizes_are_checked() {
        assert_eq!(QrSize::from_query(None).unwrap().pixels(), QrSize::DEFAULT);
        assert_eq!(QrSize::from_query(Some(128)).unwrap().pixels(), 128);
        for bad in [0, 127, 2049, u32::MAX] {
            let err = QrSize::from_query(Some(bad)).unwrap_err();
            assert_eq!(err.code(), Code::InvalidQuery);
        }
    }

    #[test]
    fn a_png_has_whole_pixels_per_module_and_fits_the_size() {
        let matrix = QrMatrix::encode(URL).unwrap();
        let size = QrSize::from_query(Some(300)).unwrap();
        let png = png(&matrix, size).unwrap();
        let image = image::load_from_memory(&png).unwrap().to_luma8();
        let n = matrix.width_with_quiet_zone() as u32;
        assert_eq!(image.width(), image.height());
        assert!(image.width() <= 300);
        assert_eq!(image.width() % n, 0);
        // The quiet zone is light, the top-left finder pattern's corner dark.
        let module = image.width() / n;
        assert_eq!(image.get_pixel(0, 0).0, [255]);
        let corner = QUIET_ZONE as u32 * module;
        assert_eq!(image.get_pixel(corner, corner).0, [0]);
    }

    #[test]
    fn runs_cover_exactly_the_dark_modules() {
        let matrix = QrMatrix::encode(URL).unwrap();
        let dark = (0..matrix.width())
            .flat_map(|y| (0..matrix.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| matrix.is_dark(x, y))
            .count();
        let in_runs: usize = matrix.dark_runs().iter().map(|&(_, _, len)| len).sum();
        assert_eq!(dark, in_runs);
    }
}

//! Printable referral cards (guide 4.11): a rider's A4 sheet and a parcel's single card.
//!
//! A card is 85 × 55 mm, the size of a business card, so it fits a wallet and a standard
//! card cutter. It carries the shop's name in large type, a QR code to the landing URL
//! (about 28 mm of modules: phones read it at arm's length, and a module stays above half a
//! millimetre for long URLs), the code in text for people who type it at checkout, and a
//! short line in Bangla. Every card has crop marks at its four corners, outside the card,
//! so nothing printed is cut through and an imprecise cut leaves no line on the card.

use krilla::color::rgb;
use krilla::configure::{Archival, ConfigurationBuilder};
use krilla::geom::{PathBuilder, Rect, Transform};
use krilla::graphic::Graphic;
use krilla::metadata::DateTime;
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::{Document, SerializeSettings};

use super::qr::{QUIET_ZONE, QrMatrix};
use super::text::{self, Weight};
use crate::error::{Code, Error, Result};

/// The line on a rider's card: "Scan right now and register in just one minute; get a
/// reward on your first order." Its conjuncts (ক্ষ, স্ক্য, ত্র, ন্ধ, প্র, র্ড with reph) and
/// vowel signs are what the shaping must get right.
pub const RIDER_LINE: &str = "এক্ষুনি স্ক্যান করে মাত্র এক মিনিটে নিবন্ধন করুন, প্রথম অর্ডারেই পুরস্কার পান।";

/// The line on a parcel's card, which carries the recipient's own code: "Share this code
/// with friends: when they place their first order, you get a reward too."
pub const PARCEL_LINE: &str = "কোডটি বন্ধুদের সাথে শেয়ার করুন: তাদের প্রথম অর্ডারে আপনিও পুরস্কার পাবেন।";

/// The label above the code: "Referral code".
pub const CODE_LABEL: &str = "রেফারেল কোড";

/// Which card: it decides the Bangla line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardKind {
    /// A delivery rider's card: the rider's partner code, handed to people at the door.
    Rider,
    /// A card put in a parcel: the recipient's own share code, to pass on.
    Parcel,
}

/// What one card shows, and when it is printed (the PDF's creation date).
#[derive(Debug, Clone)]
pub struct Card {
    /// Which card.
    pub kind: CardKind,
    /// `SHOP_NAME`.
    pub shop_name: String,
    /// The code, printed in text.
    pub code: String,
    /// The landing URL the QR code holds.
    pub url: String,
    /// When the PDF is made (PDF/A requires the date; the caller has the clock).
    pub printed_at: chrono::DateTime<chrono::Utc>,
}

/// How many rider cards to print (`?count=`): [`CardCount::DEFAULT`] when absent, refused
/// outside 1..=[`CardCount::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardCount(u32);

impl CardCount {
    /// One sheet and a bit: a rider's round for a day.
    pub const DEFAULT: u32 = 10;
    /// 500 cards, 63 sheets: a print shop's batch. More would hold a request (and a
    /// blocking thread) for seconds.
    pub const MAX: u32 = 500;

    /// The count asked for in the query, checked.
    pub fn from_query(count: Option<u32>) -> Result<Self> {
        match count {
            None => Ok(Self(Self::DEFAULT)),
            Some(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            Some(_) => Err(Error::new(
                Code::InvalidQuery,
                format!("count must be between 1 and {}", Self::MAX),
            )),
        }
    }

    /// The number of cards.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Points per millimetre: PDF units are 1/72 inch.
const MM: f32 = 72.0 / 25.4;

/// A4, portrait, in mm.
const A4_WIDTH: f32 = 210.0;
const A4_HEIGHT: f32 = 297.0;
/// A card, in mm.
const CARD_WIDTH: f32 = 85.0;
const CARD_HEIGHT: f32 = 55.0;
/// Cards on a sheet: two columns of four. The gutters between them hold the crop marks,
/// so every card is cut on its own lines.
const COLUMNS: usize = 2;
const ROWS: usize = 4;
/// Cards on one A4 sheet.
pub const CARDS_PER_SHEET: usize = COLUMNS * ROWS;
const GUTTER_X: f32 = 10.0;
const GUTTER_Y: f32 = 8.0;
/// A crop mark starts this far from its card's corner and is this long (mm).
const MARK_OFFSET: f32 = 2.0;
const MARK_LENGTH: f32 = 4.0;
/// The grid of cards, centred on the sheet.
const SHEET_LEFT: f32 =
    (A4_WIDTH - (COLUMNS as f32 * CARD_WIDTH + (COLUMNS - 1) as f32 * GUTTER_X)) / 2.0;
const SHEET_TOP: f32 =
    (A4_HEIGHT - (ROWS as f32 * CARD_HEIGHT + (ROWS - 1) as f32 * GUTTER_Y)) / 2.0;
// The marks stay clear of the 5 mm border most printers cannot print on, and the marks
// of neighbouring cards fit in the gutter between them.
const _: () = assert!(SHEET_LEFT - MARK_OFFSET - MARK_LENGTH >= 5.0);
const _: () = assert!(SHEET_TOP - MARK_OFFSET - MARK_LENGTH >= 5.0);
const _: () = assert!(GUTTER_X >= 2.0 * MARK_OFFSET && GUTTER_Y >= 2.0 * MARK_OFFSET);

/// The parcel card's page: the card with room for its crop marks on every side.
const PARCEL_MARGIN: f32 = 8.0;

/// Inside a card (mm from its top-left corner): the margin nothing is printed in, so an
/// imprecise cut takes nothing away.
const PADDING: f32 = 4.0;
/// The shop's name and the rule under it.
const NAME_BASELINE: f32 = 11.0;
const RULE_Y: f32 = 14.0;
/// The QR code's square, quiet zone included: it starts just under the rule, and its
/// modules start at the padding (the quiet zone lies on the card's white margin). 38 mm
/// gives 31 mm of modules for a landing URL of 50 to 60 characters (37 modules, 0.84 mm
/// each); longer URLs get more, smaller modules in the same square.
const QR_BOX: f32 = 38.0;
const QR_BOX_TOP: f32 = RULE_Y + 0.5;
/// The text column starts this far right of the QR code's quiet zone: nothing may be
/// printed inside the quiet zone.
const COLUMN_GAP: f32 = 0.5;

/// Where the QR code's modules go, for a code of `modules` per side (mm).
struct QrPlacement {
    /// One module's side.
    module: f32,
    /// The modules' top-left corner.
    left: f32,
    top: f32,
    /// Where the text column starts: right of the quiet zone.
    column_left: f32,
}

impl QrPlacement {
    fn for_modules(modules: usize) -> Self {
        let module = QR_BOX / (modules + 2 * QUIET_ZONE) as f32;
        let quiet = QUIET_ZONE as f32 * module;
        Self {
            module,
            left: PADDING,
            top: QR_BOX_TOP + quiet,
            column_left: PADDING + modules as f32 * module + quiet + COLUMN_GAP,
        }
    }

    fn column_width(&self) -> f32 {
        CARD_WIDTH - PADDING - self.column_left
    }

    fn bottom(&self, modules: usize) -> f32 {
        self.top + modules as f32 * self.module
    }
}

/// The shop's green (Bangladesh's flag green), for the name and the rule under it.
fn brand() -> rgb::Color {
    rgb::Color::new(0, 106, 78)
}

fn grey() -> rgb::Color {
    rgb::Color::new(85, 85, 85)
}

fn black() -> rgb::Color {
    rgb::Color::new(0, 0, 0)
}

fn fill(color: rgb::Color) -> Fill {
    Fill {
        paint: color.into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

/// `count` copies of `card` on A4 sheets, eight to a sheet.
///
/// The card is drawn once, as a PDF form (krilla's [`Graphic`]), and placed on the sheets
/// as often as asked: 500 cards cost one card's shaping and drawing, and the file holds
/// the card once.
pub fn rider_sheet(card: &Card, count: CardCount) -> Result<Vec<u8>> {
    let matrix = QrMatrix::encode(&card.url)?;
    let mut document = new_document()?;
    document.set_metadata(metadata(card, "Rider cards"));
    let count = count.get() as usize;
    let sheets = count.div_ceil(CARDS_PER_SHEET);
    let mut graphic = None;
    for sheet in 0..sheets {
        let mut page = document.start_page_with(page_settings(A4_WIDTH, A4_HEIGHT, None)?);
        let mut surface = page.surface();
        let graphic = graphic
            .get_or_insert_with(|| card_graphic(&mut surface, card, &matrix))
            .clone();
        let on_sheet = (count - sheet * CARDS_PER_SHEET).min(CARDS_PER_SHEET);
        for slot in 0..on_sheet {
            let (column, row) = (slot % COLUMNS, slot / COLUMNS);
            let x = SHEET_LEFT + column as f32 * (CARD_WIDTH + GUTTER_X);
            let y = SHEET_TOP + row as f32 * (CARD_HEIGHT + GUTTER_Y);
            surface.push_transform(&Transform::from_translate(x * MM, y * MM));
            surface.draw_graphic(graphic.clone());
            surface.pop();
        }
        surface.finish();
        page.finish();
    }
    finish(document)
}

/// One card on a page of its own, with its crop marks: printed at actual size on any
/// paper and cut out, or fitted to a card printer's stock.
pub fn parcel_card(card: &Card) -> Result<Vec<u8>> {
    let matrix = QrMatrix::encode(&card.url)?;
    let mut document = new_document()?;
    document.set_metadata(metadata(card, "Parcel card"));
    let trim = Rect::from_xywh(
        PARCEL_MARGIN * MM,
        PARCEL_MARGIN * MM,
        CARD_WIDTH * MM,
        CARD_HEIGHT * MM,
    );
    let mut page = document.start_page_with(page_settings(
        CARD_WIDTH + 2.0 * PARCEL_MARGIN,
        CARD_HEIGHT + 2.0 * PARCEL_MARGIN,
        trim,
    )?);
    let mut surface = page.surface();
    let graphic = card_graphic(&mut surface, card, &matrix);
    surface.push_transform(&Transform::from_translate(
        PARCEL_MARGIN * MM,
        PARCEL_MARGIN * MM,
    ));
    surface.draw_graphic(graphic);
    surface.pop();
    surface.finish();
    page.finish();
    finish(document)
}

/// A document checked as PDF/A-2u: every glyph must map back to Unicode and none may be
/// `.notdef`, so krilla refuses to write a card that would print a box where a letter
/// should be (and the print shop gets a self-contained file with its fonts embedded).
fn new_document() -> Result<Document> {
    let configuration = ConfigurationBuilder::new()
        .with_archival_validator(Archival::A2_U)
        .finish()
        .map_err(|e| Error::Internal(anyhow::anyhow!("the PDF/A configuration: {e:?}")))?;
    Ok(Document::new_with(SerializeSettings {
        configuration,
        ..SerializeSettings::default()
    }))
}

fn metadata(card: &Card, what: &str) -> Metadata {
    use chrono::{Datelike, Timelike};

    let at = card.printed_at;
    let date = DateTime::new(u16::try_from(at.year()).unwrap_or(2026))
        .month(at.month() as u8)
        .day(at.day() as u8)
        .hour(at.hour() as u8)
        .minute(at.minute() as u8)
        .second(at.second() as u8)
        .utc_offset_hour(0)
        .utc_offset_minute(0);
    Metadata::new()
        .title(format!("{what}: {} {}", card.shop_name, card.code))
        .language("bn".to_owned())
        .creator("Bondhu".to_owned())
        .creation_date(date)
}

/// A page `width` × `height` mm, with the card's trim box when there is one card.
fn page_settings(width: f32, height: f32, trim: Option<Rect>) -> Result<PageSettings> {
    let settings = PageSettings::from_wh(width * MM, height * MM)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("an empty page size")))?;
    Ok(settings.with_trim_box(trim))
}

fn finish(document: Document) -> Result<Vec<u8>> {
    document
        .finish()
        .map_err(|e| Error::Internal(anyhow::anyhow!("writing a card PDF: {e:?}")))
}

/// The card, with its crop marks, as a form to place with its top-left corner at the
/// origin.
fn card_graphic(surface: &mut Surface<'_>, card: &Card, matrix: &QrMatrix) -> Graphic {
    let mut builder = surface.stream_builder();
    let mut card_surface = builder.surface();
    draw_card(&mut card_surface, card, matrix);
    draw_crop_marks(&mut card_surface);
    card_surface.finish();
    Graphic::new(builder.finish(), false)
}

/// A point `x`, `y` mm from the card's top-left corner, in points.
fn at(x: f32, y: f32) -> (f32, f32) {
    (x * MM, y * MM)
}

/// One card, its top-left corner at the origin.
fn draw_card(surface: &mut Surface<'_>, card: &Card, matrix: &QrMatrix) {
    let text_width = CARD_WIDTH - 2.0 * PADDING;

    // The shop's name: large, bold, shrunk to fit when long.
    let (name, name_size) = text::fit(&card.shop_name, Weight::Bold, 19.0, text_width * MM);
    surface.set_fill(Some(fill(brand())));
    let (nx, ny) = at(PADDING, NAME_BASELINE);
    name.draw(surface, nx, ny, name_size);

    // A rule under the name.
    surface.set_fill(None);
    surface.set_stroke(Some(Stroke {
        paint: brand().into(),
        width: 0.8,
        ..Stroke::default()
    }));
    let mut rule = PathBuilder::new();
    let (rx0, ry) = at(PADDING, RULE_Y);
    let (rx1, _) = at(CARD_WIDTH - PADDING, RULE_Y);
    rule.move_to(rx0, ry);
    rule.line_to(rx1, ry);
    if let Some(path) = rule.finish() {
        surface.draw_path(&path);
    }
    surface.set_stroke(None);

    let qr = QrPlacement::for_modules(matrix.width());
    let (qx, qy) = at(qr.left, qr.top);
    draw_qr(surface, matrix, qx, qy, qr.module * MM);

    // The code, under its Bangla label, level with the QR code's top.
    let column = qr.column_width() * MM;
    surface.set_fill(Some(fill(grey())));
    let (lx, ly) = at(qr.column_left, qr.top + 2.6);
    text::shape(CODE_LABEL, Weight::Regular).draw(surface, lx, ly, 7.5);
    surface.set_fill(Some(fill(black())));
    let (code, code_size) = text::fit(&card.code, Weight::Bold, 16.0, column);
    let (cx, cy) = at(qr.column_left, qr.top + 9.6);
    code.draw(surface, cx, cy, code_size);

    // The Bangla line, on at most three lines: smaller type before a fourth line. The
    // last baseline sits level with the QR code's bottom edge.
    let line = match card.kind {
        CardKind::Rider => RIDER_LINE,
        CardKind::Parcel => PARCEL_LINE,
    };
    let mut size = 8.5;
    let mut lines = text::wrap(line, Weight::Regular, size, column);
    while lines.len() > 3 && size > 6.0 {
        size -= 0.5;
        lines = text::wrap(line, Weight::Regular, size, column);
    }
    // Bangla needs room above and below the line for vowel signs.
    let leading = size * 1.5;
    let (bx, _) = at(qr.column_left, 0.0);
    let bottom = (qr.bottom(matrix.width()) - 0.8) * MM;
    let first = bottom - (lines.len().max(1) - 1) as f32 * leading;
    for (i, shaped) in lines.iter().enumerate() {
        shaped.draw(surface, bx, first + i as f32 * leading, size);
    }
    surface.set_fill(None);
}

/// The QR code's modules with their top-left corner at (`x`, `y`) points, `module` points
/// each, over a white square that includes the quiet zone (the card may one day have a
/// background). One path of one rectangle per run of dark modules: filled as one shape,
/// neighbouring modules leave no hairline gaps when rasterised.
fn draw_qr(surface: &mut Surface<'_>, matrix: &QrMatrix, x: f32, y: f32, module: f32) {
    let quiet = QUIET_ZONE as f32 * module;
    let side = matrix.width_with_quiet_zone() as f32 * module;
    surface.set_fill(Some(fill(rgb::Color::new(255, 255, 255))));
    if let Some(background) = Rect::from_xywh(x - quiet, y - quiet, side, side) {
        let mut builder = PathBuilder::new();
        builder.push_rect(background);
        if let Some(path) = builder.finish() {
            surface.draw_path(&path);
        }
    }
    let mut builder = PathBuilder::new();
    for (row, column, len) in matrix.dark_runs() {
        if let Some(rect) = Rect::from_xywh(
            x + column as f32 * module,
            y + row as f32 * module,
            len as f32 * module,
            module,
        ) {
            builder.push_rect(rect);
        }
    }
    surface.set_fill(Some(fill(black())));
    if let Some(path) = builder.finish() {
        surface.draw_path(&path);
    }
}

/// Crop marks at the four corners of the card (its top-left corner at the origin): at
/// each corner, one mark along each edge's line, outside the card.
fn draw_crop_marks(surface: &mut Surface<'_>) {
    let mut marks = PathBuilder::new();
    let mut line = |x0: f32, y0: f32, x1: f32, y1: f32| {
        marks.move_to(x0 * MM, y0 * MM);
        marks.line_to(x1 * MM, y1 * MM);
    };
    let (near, far) = (MARK_OFFSET, MARK_OFFSET + MARK_LENGTH);
    for (cx, sx) in [(0.0, -1.0), (CARD_WIDTH, 1.0)] {
        for (cy, sy) in [(0.0, -1.0), (CARD_HEIGHT, 1.0)] {
            // Along the vertical edge, above or below the corner.
            line(cx, cy + sy * near, cx, cy + sy * far);
            // Along the horizontal edge, left or right of the corner.
            line(cx + sx * near, cy, cx + sx * far, cy);
        }
    }
    surface.set_fill(None);
    surface.set_stroke(Some(Stroke {
        paint: black().into(),
        // A hairline: thin enough not to show if the cut is off by a little.
        width: 0.25,
        ..Stroke::default()
    }));
    if let Some(path) = marks.finish() {
        surface.draw_path(&path);
    }
    surface.set_stroke(None);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(kind: CardKind) -> Card {
        Card {
            kind,
            shop_name: "TrustCart".to_owned(),
            code: "RIDER01".to_owned(),
            url: "http://localhost:3001/r/RIDER01?ch=delivery_card".to_owned(),
            printed_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn counts_are_checked() {
        assert_eq!(CardCount::from_query(None).unwrap().get(), 10);
        assert_eq!(CardCount::from_query(Some(500)).unwrap().get(), 500);
        for bad in [0, 501] {
            assert_eq!(
                CardCount::from_query(Some(bad)).unwrap_err().code(),
                Code::InvalidQuery
            );
        }
    }

    #[test]
    fn the_qr_code_keeps_its_size_and_quiet_zone_for_long_urls() {
        // For landing URLs of 30 to 110 characters (QR versions 4 to 8), the modules stay
        // at least 0.6 mm, the text column at least 40 mm wide, and the code on the card.
        for modules in [33, 37, 41, 45, 49] {
            let qr = QrPlacement::for_modules(modules);
            assert!(qr.module >= 0.6, "{modules}");
            assert!(
                qr.column_width() >= 40.0,
                "{modules}: {}",
                qr.column_width()
            );
            assert!(qr.bottom(modules) + PADDING <= CARD_HEIGHT, "{modules}");
            assert!(qr.top - QUIET_ZONE as f32 * qr.module > RULE_Y, "{modules}");
        }
    }

    #[test]
    fn pdfs_are_written() {
        let sheet =
            rider_sheet(&card(CardKind::Rider), CardCount::from_query(None).unwrap()).unwrap();
        assert!(sheet.starts_with(b"%PDF-"));
        let single = parcel_card(&card(CardKind::Parcel)).unwrap();
        assert!(single.starts_with(b"%PDF-"));
    }

    #[test]
    fn a_card_that_would_print_a_box_is_refused() {
        // No font Bondhu ships has CJK: PDF/A refuses the .notdef glyph.
        let card = Card {
            shop_name: "百货".to_owned(),
            ..card(CardKind::Rider)
        };
        let err = rider_sheet(&card, CardCount::from_query(Some(1)).unwrap()).unwrap_err();
        assert_eq!(err.code(), Code::InternalError);
    }
}

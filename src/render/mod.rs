//! Drawing: QR codes (SVG, PNG) and printable PDF cards.
//!
//! Pure functions from text to bytes: no database, no configuration, no clock. The service
//! layer ([`crate::service::cards`]) decides *what* is drawn (whose code, which landing URL,
//! which shop name) and calls these on the blocking pool, since a sheet of 500 cards is
//! CPU work.
//!
//! - [`qr`]: one QR matrix per landing URL, drawn as SVG, PNG or a PDF path;
//! - [`text`]: the fonts the cards embed, and text split into runs by script and shaped,
//!   so every glyph comes from a font that has it (Bangla conjuncts and vowel signs
//!   included);
//! - [`cards`]: the card's layout, the A4 sheet of rider cards and the parcel card.

pub mod cards;
pub mod qr;
pub mod text;

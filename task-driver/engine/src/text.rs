//! The `lean:text/fonts` import (wit/text/fonts.wit) over the process's
//! font book: every instance of the task reaches the same opened fonts, and
//! no store holds anything for it.

use crate::fonts::{FontBook, FontInfo, ShapedGlyph};
use wasmtime::component::{HasData, Linker};

mod bindings {
    wasmtime::component::bindgen!({ path: "wit/text", world: "text" });
}

use bindings::lean::text::fonts;

impl From<FontInfo> for fonts::FontInfo {
    fn from(info: FontInfo) -> Self {
        fonts::FontInfo {
            file: info.file,
            postscript_name: info.postscript_name,
            units_per_em: info.units_per_em,
            ascent: info.ascent,
            descent: info.descent,
            cap_height: info.cap_height,
            italic_angle: info.italic_angle,
            bbox: info.bbox,
        }
    }
}

impl From<ShapedGlyph> for fonts::Glyph {
    fn from(g: ShapedGlyph) -> Self {
        fonts::Glyph {
            id: g.id,
            cluster: g.cluster,
            advance: g.advance,
            x_advance: g.x_advance,
            y_advance: g.y_advance,
            x_offset: g.x_offset,
            y_offset: g.y_offset,
        }
    }
}

/// The import's host: the process's font book.
pub struct PlatformFonts;

impl HasData for PlatformFonts {
    type Data<'a> = PlatformFonts;
}

impl fonts::Host for PlatformFonts {
    fn list_fonts(&mut self) -> Result<Vec<fonts::FontInfo>, String> {
        Ok(FontBook::global().infos()?.into_iter().map(Into::into).collect())
    }

    fn coverage(&mut self, text: String) -> Vec<u32> {
        // A font the node lacks covers nothing: its text is refused as undrawable.
        FontBook::global().coverage(&text).unwrap_or_else(|_| vec![0; text.chars().count()])
    }

    fn shape(&mut self, font: u32, text: String, rtl: bool) -> Result<Vec<fonts::Glyph>, String> {
        Ok(FontBook::global().font(font)?.shape(&text, rtl)?.into_iter().map(Into::into).collect())
    }

    fn subset(&mut self, font: u32, glyphs: Vec<u16>) -> Result<Vec<u8>, String> {
        FontBook::global().font(font)?.subset(&glyphs)
    }
}

pub fn add_to_linker<T: 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    fonts::add_to_linker::<T, PlatformFonts>(linker, |_| PlatformFonts)
}

//! A TrueType subset for embedding in a PDF: the glyphs asked for, renumbered
//! in the order given, and the tables a PDF viewer draws them with (head,
//! hhea, maxp, hmtx, loca, glyf, and the hinting tables cvt, fpgm, prep). No
//! cmap: a PDF names glyphs by id (Identity CIDToGIDMap).

use std::collections::HashMap;

// Composite glyph component flags (OpenType `glyf`).
const ARG_1_AND_2_ARE_WORDS: u16 = 0x0001;
const WE_HAVE_A_SCALE: u16 = 0x0008;
const MORE_COMPONENTS: u16 = 0x0020;
const WE_HAVE_AN_X_AND_Y_SCALE: u16 = 0x0040;
const WE_HAVE_A_TWO_BY_TWO: u16 = 0x0080;

/// Tables copied as they are (hinting: they name no glyph).
const COPIED: [&[u8; 4]; 3] = [b"cvt ", b"fpgm", b"prep"];

fn u16_at(data: &[u8], at: usize) -> Result<u16, String> {
    data.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| format!("table ends before byte {at}"))
}

fn u32_at(data: &[u8], at: usize) -> Result<u32, String> {
    data.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| format!("table ends before byte {at}"))
}

fn put_u16(data: &mut [u8], at: usize, value: u16) {
    data[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// The font's tables that the subset is made from.
struct Source<'a> {
    head: &'a [u8],
    hhea: &'a [u8],
    maxp: &'a [u8],
    hmtx: &'a [u8],
    loca: &'a [u8],
    glyf: &'a [u8],
    /// The hinting tables the font has, copied as they are.
    hinting: Vec<([u8; 4], &'a [u8])>,
    glyph_count: u16,
    long_loca: bool,
    long_metrics: u16,
}

impl<'a> Source<'a> {
    fn read(font: &'a [u8]) -> Result<Source<'a>, String> {
        let raw = ttf_parser::RawFace::parse(font, 0).map_err(|err| format!("not a font: {err}"))?;
        let table = |tag: &[u8; 4]| {
            raw.table(ttf_parser::Tag::from_bytes(tag))
                .ok_or_else(|| format!("no {} table", String::from_utf8_lossy(tag)))
        };
        let (head, hhea, maxp) = (table(b"head")?, table(b"hhea")?, table(b"maxp")?);
        Ok(Source {
            head,
            hhea,
            maxp,
            hmtx: table(b"hmtx")?,
            loca: table(b"loca")?,
            glyf: table(b"glyf")?,
            hinting: COPIED
                .iter()
                .filter_map(|tag| raw.table(ttf_parser::Tag::from_bytes(tag)).map(|data| (**tag, data)))
                .collect(),
            glyph_count: u16_at(maxp, 4)?,
            long_loca: u16_at(head, 50)? != 0,
            long_metrics: u16_at(hhea, 34)?,
        })
    }

    /// The glyph's outline data (empty for a glyph with no contours).
    fn glyph(&self, id: u16) -> Result<&'a [u8], String> {
        if id >= self.glyph_count {
            return Err(format!("no glyph {id} (the font has {})", self.glyph_count));
        }
        let offset = |i: usize| -> Result<usize, String> {
            Ok(if self.long_loca {
                u32_at(self.loca, i * 4)? as usize
            } else {
                u16_at(self.loca, i * 2)? as usize * 2
            })
        };
        let (start, end) = (offset(id as usize)?, offset(id as usize + 1)?);
        if start > end {
            return Err(format!("glyph {id}: its loca entries are out of order"));
        }
        self.glyf.get(start..end).ok_or_else(|| format!("glyph {id}: outside the glyf table"))
    }

    /// Advance width and left side bearing, as hmtx stores them.
    fn metrics(&self, id: u16) -> Result<(u16, u16), String> {
        let long = self.long_metrics.max(1);
        if id < long {
            Ok((u16_at(self.hmtx, id as usize * 4)?, u16_at(self.hmtx, id as usize * 4 + 2)?))
        } else {
            let advance = u16_at(self.hmtx, (long as usize - 1) * 4)?;
            Ok((advance, u16_at(self.hmtx, long as usize * 4 + (id - long) as usize * 2)?))
        }
    }
}

/// The glyph with the ids of its components (if composite) changed by `renumber`.
fn renumbered(glyph: &[u8], mut renumber: impl FnMut(u16) -> u16) -> Result<Vec<u8>, String> {
    let mut out = glyph.to_vec();
    if glyph.len() < 10 || (u16_at(glyph, 0)? as i16) >= 0 {
        return Ok(out);
    }
    let mut at = 10;
    loop {
        let flags = u16_at(glyph, at)?;
        let id = u16_at(glyph, at + 2)?;
        put_u16(&mut out, at + 2, renumber(id));
        at += 4 + if flags & ARG_1_AND_2_ARE_WORDS != 0 { 4 } else { 2 };
        at += match () {
            _ if flags & WE_HAVE_A_SCALE != 0 => 2,
            _ if flags & WE_HAVE_AN_X_AND_Y_SCALE != 0 => 4,
            _ if flags & WE_HAVE_A_TWO_BY_TWO != 0 => 8,
            _ => 0,
        };
        if flags & MORE_COMPONENTS == 0 {
            return Ok(out);
        }
    }
}

/// The subset font program: glyph i of `glyphs` becomes glyph i; the parts of
/// composite glyphs are added after them.
pub fn subset_truetype(font: &[u8], glyphs: &[u16]) -> Result<Vec<u8>, String> {
    let source = Source::read(font)?;
    let mut order: Vec<u16> = Vec::with_capacity(glyphs.len());
    let mut new_id: HashMap<u16, u16> = HashMap::new();
    for &id in glyphs {
        if id >= source.glyph_count {
            return Err(format!("no glyph {id} (the font has {})", source.glyph_count));
        }
        new_id.entry(id).or_insert_with(|| {
            order.push(id);
            (order.len() - 1) as u16
        });
    }
    let mut glyf = Vec::new();
    let mut loca: Vec<u32> = Vec::with_capacity(order.len() + 1);
    let mut hmtx = Vec::with_capacity(order.len() * 4);
    let mut next = 0;
    while next < order.len() {
        let id = order[next];
        let data = renumbered(source.glyph(id)?, |part| {
            *new_id.entry(part).or_insert_with(|| {
                order.push(part);
                (order.len() - 1) as u16
            })
        })?;
        loca.push(glyf.len() as u32);
        glyf.extend_from_slice(&data);
        glyf.resize(glyf.len().next_multiple_of(4), 0);
        let (advance, bearing) = source.metrics(id)?;
        hmtx.extend_from_slice(&advance.to_be_bytes());
        hmtx.extend_from_slice(&bearing.to_be_bytes());
        next += 1;
    }
    if order.len() > u16::MAX as usize {
        return Err("more than 65,535 glyphs".to_string());
    }
    loca.push(glyf.len() as u32);
    let count = order.len() as u16;

    let mut head = source.head.to_vec();
    put_u16(&mut head, 50, 1); // long loca offsets
    head[8..12].fill(0); // checkSumAdjustment, set below
    let mut hhea = source.hhea.to_vec();
    put_u16(&mut hhea, 34, count);
    let mut maxp = source.maxp.to_vec();
    put_u16(&mut maxp, 4, count);
    let loca: Vec<u8> = loca.iter().flat_map(|o| o.to_be_bytes()).collect();

    let mut tables: Vec<([u8; 4], Vec<u8>)> = vec![
        (*b"head", head),
        (*b"hhea", hhea),
        (*b"maxp", maxp),
        (*b"hmtx", hmtx),
        (*b"loca", loca),
        (*b"glyf", glyf),
    ];
    tables.extend(source.hinting.iter().map(|(tag, data)| (*tag, data.to_vec())));
    Ok(write_font(tables))
}

fn checksum(data: &[u8]) -> u32 {
    data.chunks(4).fold(0u32, |sum, chunk| {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        sum.wrapping_add(u32::from_be_bytes(word))
    })
}

/// An sfnt file of these tables, sorted by tag, each padded to 4 bytes, with
/// the head table's whole-font checksum adjustment set.
fn write_font(mut tables: Vec<([u8; 4], Vec<u8>)>) -> Vec<u8> {
    tables.sort_by_key(|(tag, _)| *tag);
    let count = tables.len() as u16;
    let power = 1u16 << (15 - count.leading_zeros() as u16);
    let mut out = Vec::new();
    out.extend_from_slice(&0x0001_0000u32.to_be_bytes());
    for value in [count, power * 16, power.trailing_zeros() as u16, count * 16 - power * 16] {
        out.extend_from_slice(&value.to_be_bytes());
    }
    let mut offset = 12 + 16 * tables.len();
    let mut head_at = None;
    for (tag, data) in &tables {
        out.extend_from_slice(tag);
        out.extend_from_slice(&checksum(data).to_be_bytes());
        out.extend_from_slice(&(offset as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        if tag == b"head" {
            head_at = Some(offset);
        }
        offset += data.len().next_multiple_of(4);
    }
    for (_, data) in &tables {
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    if let Some(at) = head_at {
        let adjustment = 0xB1B0_AFBAu32.wrapping_sub(checksum(&out));
        out[at + 8..at + 12].copy_from_slice(&adjustment.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fonts::{FONT_FILES, FontBook};

    fn font_bytes(file: &str) -> Vec<u8> {
        let dirs = ["/usr/share/fonts/truetype/noto", "/usr/share/fonts/truetype/dejavu"];
        dirs.iter().find_map(|d| std::fs::read(format!("{d}/{file}")).ok()).unwrap()
    }

    #[test]
    fn a_subset_keeps_the_glyphs_in_the_order_given_with_their_outlines_and_widths() {
        let bytes = font_bytes("NotoSans-Regular.ttf");
        let full = ttf_parser::Face::parse(&bytes, 0).unwrap();
        let a = full.glyph_index('a').unwrap().0;
        let z = full.glyph_index('z').unwrap().0;
        let program = subset_truetype(&bytes, &[0, z, a]).unwrap();
        let sub = ttf_parser::Face::parse(&program, 0).unwrap();
        assert_eq!(sub.number_of_glyphs(), 3);
        for (new, old) in [(1, z), (2, a)] {
            assert_eq!(
                sub.glyph_hor_advance(ttf_parser::GlyphId(new)),
                full.glyph_hor_advance(ttf_parser::GlyphId(old))
            );
            assert_eq!(
                sub.glyph_bounding_box(ttf_parser::GlyphId(new)),
                full.glyph_bounding_box(ttf_parser::GlyphId(old))
            );
        }
        assert_eq!(checksum(&program), 0xB1B0_AFBA, "the whole font sums to the magic number");
        assert!(program.len() < bytes.len() / 20, "{} of {} bytes", program.len(), bytes.len());
    }

    #[test]
    fn a_composite_glyph_brings_its_parts_renumbered() {
        // DejaVu Sans draws é as a composite of e and the acute accent.
        let bytes = font_bytes("DejaVuSans.ttf");
        let full = ttf_parser::Face::parse(&bytes, 0).unwrap();
        let e_acute = full.glyph_index('é').unwrap().0;
        let program = subset_truetype(&bytes, &[0, e_acute]).unwrap();
        let sub = ttf_parser::Face::parse(&program, 0).unwrap();
        assert!(sub.number_of_glyphs() > 2, "its parts were added");
        assert_eq!(
            sub.glyph_bounding_box(ttf_parser::GlyphId(1)),
            full.glyph_bounding_box(ttf_parser::GlyphId(e_acute))
        );
    }

    #[test]
    fn glyph_ids_past_the_end_are_refused() {
        let bytes = font_bytes("NotoSans-Regular.ttf");
        assert!(subset_truetype(&bytes, &[0, 65_000]).unwrap_err().starts_with("no glyph 65000"));
        assert!(subset_truetype(b"not a font", &[0]).is_err());
    }

    #[test]
    fn every_platform_font_subsets() {
        let book = FontBook::global();
        for i in 0..FONT_FILES.len() as u32 {
            let font = book.font(i).unwrap();
            let program = font.subset(&[0, 1, 2, 3]).unwrap();
            assert!(ttf_parser::Face::parse(&program, 0).is_ok(), "{}", font.info.file);
        }
    }
}

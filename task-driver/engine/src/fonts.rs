//! The platform's fonts (the `lean:text/fonts` import): opened from the
//! node's font folders the first time a guest asks, once per process, and
//! shared by every instance. A guest that lays out text in many scripts then
//! holds no parsed font of its own; the font files are mapped read-only, so
//! only the pages shaping touches are in memory, and the page cache shares
//! them with every other task on the node.

use crate::subset::subset_truetype;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The fonts, in fallback order: the same files, in the same order, as the
/// PDF service's `workloads/pdf/src/font-list.ts` (a test holds them equal).
pub const FONT_FILES: &[&str] = &[
    "NotoSans-Regular.ttf",
    "NotoSansArabic-Regular.ttf",
    "NotoSansHebrew-Regular.ttf",
    "NotoSansDevanagari-Regular.ttf",
    "NotoSansThai-Regular.ttf",
    "NotoSansBengali-Regular.ttf",
    "NotoSansTamil-Regular.ttf",
    "NotoSansTelugu-Regular.ttf",
    "NotoSansGujarati-Regular.ttf",
    "NotoSansGurmukhi-Regular.ttf",
    "NotoSansKannada-Regular.ttf",
    "NotoSansMalayalam-Regular.ttf",
    "NotoSansSinhala-Regular.ttf",
    "NotoSansKhmer-Regular.ttf",
    "NotoSansLao-Regular.ttf",
    "NotoSansMyanmar-Regular.ttf",
    "NotoSansGeorgian-Regular.ttf",
    "NotoSansArmenian-Regular.ttf",
    "NotoSansEthiopic-Regular.ttf",
    "DroidSansFallbackFull.ttf",
    "NanumGothic.ttf",
    "DejaVuSans.ttf",
];

/// Debian's folders for them (fonts-noto-core, fonts-droid-fallback,
/// fonts-nanum, fonts-dejavu-core), after `LEAN_FONT_DIR` if set.
const DEBIAN_FONT_DIRS: &[&str] = &[
    "/usr/share/fonts/truetype/noto",
    "/usr/share/fonts/truetype/droid",
    "/usr/share/fonts/truetype/nanum",
    "/usr/share/fonts/truetype/dejavu",
];

/// The longest text one `shape` call takes (bytes of UTF-8): a bound on the
/// time a guest can keep the host busy in one call, which no deadline can cut.
pub const MAX_SHAPE_BYTES: usize = 1 << 20;

/// What a PDF's font descriptor needs of a font, in font units.
#[derive(Debug, Clone, PartialEq)]
pub struct FontInfo {
    pub file: String,
    pub postscript_name: String,
    pub units_per_em: u16,
    pub ascent: i16,
    pub descent: i16,
    pub cap_height: i16,
    pub italic_angle: f32,
    pub bbox: (i16, i16, i16, i16),
}

/// One shaped glyph; `cluster` is in UTF-16 code units of the text shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapedGlyph {
    pub id: u16,
    pub cluster: u32,
    pub advance: u16,
    pub x_advance: i32,
    pub y_advance: i32,
    pub x_offset: i32,
    pub y_offset: i32,
}

/// One opened font: its file, mapped for the life of the process, and the face over it.
pub struct Font {
    pub info: FontInfo,
    data: &'static [u8],
    face: rustybuzz::Face<'static>,
}

impl Font {
    fn open(file: &str, data: &'static [u8]) -> Result<Font, String> {
        let face =
            rustybuzz::Face::from_slice(data, 0).ok_or_else(|| format!("{file}: not an OpenType font"))?;
        if face.tables().glyf.is_none() {
            return Err(format!("{file}: has no TrueType outlines (glyf), which the subsetter needs"));
        }
        let postscript_name = face
            .names()
            .into_iter()
            .filter(|name| name.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
            .find_map(|name| name.to_string())
            .unwrap_or_else(|| file.trim_end_matches(".ttf").to_string());
        let bbox = face.global_bounding_box();
        let info = FontInfo {
            file: file.to_string(),
            postscript_name,
            units_per_em: u16::try_from(face.units_per_em())
                .map_err(|_| format!("{file}: units per em out of range"))?,
            ascent: face.ascender(),
            descent: face.descender(),
            cap_height: face.capital_height().unwrap_or(face.ascender()),
            italic_angle: face.italic_angle(),
            bbox: (bbox.x_min, bbox.y_min, bbox.x_max, bbox.y_max),
        };
        Ok(Font { info, data, face })
    }

    pub fn has_glyph(&self, ch: char) -> bool {
        self.face.glyph_index(ch).is_some()
    }

    /// Shapes one run of `text` in one direction; glyphs come in visual order.
    pub fn shape(&self, text: &str, rtl: bool) -> Result<Vec<ShapedGlyph>, String> {
        if text.len() > MAX_SHAPE_BYTES {
            return Err(format!(
                "text: {} bytes to shape at once, over the {MAX_SHAPE_BYTES} byte limit",
                text.len()
            ));
        }
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.set_direction(if rtl {
            rustybuzz::Direction::RightToLeft
        } else {
            rustybuzz::Direction::LeftToRight
        });
        buffer.guess_segment_properties();
        let shaped = rustybuzz::shape(&self.face, &[], buffer);
        let utf16_at = utf16_offsets(text);
        let glyphs = shaped
            .glyph_infos()
            .iter()
            .zip(shaped.glyph_positions())
            .map(|(info, pos)| {
                // Glyph ids come from the font, which has at most 65,535 glyphs.
                let id = u16::try_from(info.glyph_id).unwrap_or(0);
                ShapedGlyph {
                    id,
                    cluster: utf16_at.get(info.cluster as usize).copied().unwrap_or(0),
                    advance: self.face.glyph_hor_advance(ttf_parser::GlyphId(id)).unwrap_or(0),
                    x_advance: pos.x_advance,
                    y_advance: pos.y_advance,
                    x_offset: pos.x_offset,
                    y_offset: pos.y_offset,
                }
            })
            .collect();
        Ok(glyphs)
    }

    /// A TrueType program of these glyphs (see `subset_truetype`).
    pub fn subset(&self, glyphs: &[u16]) -> Result<Vec<u8>, String> {
        subset_truetype(self.data, glyphs).map_err(|why| format!("{}: {why}", self.info.file))
    }
}

/// For each UTF-8 byte offset of `text` (and its end), the UTF-16 offset there.
fn utf16_offsets(text: &str) -> Vec<u32> {
    let mut at = vec![0u32; text.len() + 1];
    let mut units = 0u32;
    for (byte, ch) in text.char_indices() {
        at[byte] = units;
        units += ch.len_utf16() as u32;
    }
    at[text.len()] = units;
    at
}

/// The fonts of one process, each opened on first use.
pub struct FontBook {
    dirs: Vec<PathBuf>,
    fonts: Vec<OnceLock<Result<Font, String>>>,
}

impl FontBook {
    pub fn new(dirs: Vec<PathBuf>) -> FontBook {
        FontBook { dirs, fonts: FONT_FILES.iter().map(|_| OnceLock::new()).collect() }
    }

    /// The process's fonts, from `LEAN_FONT_DIR` (if set) and Debian's folders.
    pub fn global() -> &'static FontBook {
        static BOOK: OnceLock<FontBook> = OnceLock::new();
        BOOK.get_or_init(|| {
            let mut dirs: Vec<PathBuf> =
                std::env::var_os("LEAN_FONT_DIR").map(PathBuf::from).into_iter().collect();
            dirs.extend(DEBIAN_FONT_DIRS.iter().map(PathBuf::from));
            FontBook::new(dirs)
        })
    }

    /// Font `index`, opened now if it was not yet; an unknown index or a missing file is an error.
    pub fn font(&self, index: u32) -> Result<&Font, String> {
        let slot = self
            .fonts
            .get(index as usize)
            .ok_or_else(|| format!("font: no font {index} (there are {})", self.fonts.len()))?;
        slot.get_or_init(|| {
            let file = FONT_FILES[index as usize];
            let path = self.find(file)?;
            Font::open(file, map_file(&path)?)
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    fn find(&self, file: &str) -> Result<PathBuf, String> {
        self.dirs.iter().map(|dir| dir.join(file)).find(|path| path.is_file()).ok_or_else(|| {
            let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
            format!("font {file} is not installed on this node (looked in {})", dirs.join(", "))
        })
    }

    pub fn infos(&self) -> Result<Vec<FontInfo>, String> {
        (0..self.fonts.len() as u32).map(|i| self.font(i).map(|f| f.info.clone())).collect()
    }

    /// A bit per font that has a glyph for each character of `text`.
    pub fn coverage(&self, text: &str) -> Result<Vec<u32>, String> {
        if text.len() > MAX_SHAPE_BYTES {
            return Err(format!("text: {} bytes at once, over the {MAX_SHAPE_BYTES} byte limit", text.len()));
        }
        let fonts = (0..self.fonts.len() as u32).map(|i| self.font(i)).collect::<Result<Vec<_>, _>>()?;
        Ok(text
            .chars()
            .map(|ch| {
                fonts
                    .iter()
                    .enumerate()
                    .fold(0u32, |bits, (i, font)| if font.has_glyph(ch) { bits | 1 << i } else { bits })
            })
            .collect())
    }
}

/// Maps a font file read-only for the rest of the process: only the pages
/// read are in memory, and they are the page cache's, shared with every
/// process that maps the same file.
fn map_file(path: &Path) -> Result<&'static [u8], String> {
    let fail = |err: std::io::Error| format!("cannot read font {}: {err}", path.display());
    let file = std::fs::File::open(path).map_err(fail)?;
    let len = usize::try_from(file.metadata().map_err(fail)?.len())
        .map_err(|_| format!("font {} is too large", path.display()))?;
    if len == 0 {
        return Err(format!("font {} is empty", path.display()));
    }
    // SAFETY: a fresh private read-only mapping of `len` bytes of an open
    // file; it is never unmapped, so the slice lives as long as the process.
    // Package updates replace font files by rename, which leaves this
    // mapping on the old file; truncating one in place would fault a reader.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            std::os::fd::AsRawFd::as_raw_fd(&file),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(fail(std::io::Error::last_os_error()));
    }
    // SAFETY: the mapping above is `len` readable bytes, valid for 'static.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> &'static FontBook {
        FontBook::global()
    }

    fn index(file: &str) -> u32 {
        FONT_FILES.iter().position(|f| *f == file).unwrap() as u32
    }

    #[test]
    fn every_font_opens_and_describes_itself() {
        let infos = book().infos().unwrap();
        assert_eq!(infos.len(), FONT_FILES.len());
        let arabic = &infos[index("NotoSansArabic-Regular.ttf") as usize];
        assert_eq!(arabic.postscript_name, "NotoSansArabic-Regular");
        assert!(arabic.units_per_em >= 1000 && arabic.ascent > 0 && arabic.descent < 0);
    }

    #[test]
    fn coverage_has_a_bit_per_font_with_the_character() {
        let bits = book().coverage("aب").unwrap();
        assert_eq!(bits.len(), 2);
        assert_ne!(bits[0] & 1, 0, "Noto Sans has a");
        assert_eq!(bits[1] & 1, 0, "Noto Sans has no Arabic");
        assert_ne!(bits[1] & (1 << index("NotoSansArabic-Regular.ttf")), 0);
    }

    #[test]
    fn lam_alef_is_one_glyph_in_one_cluster_right_to_left() {
        let arabic = book().font(index("NotoSansArabic-Regular.ttf")).unwrap();
        let glyphs = arabic.shape("لا", true).unwrap();
        assert_eq!(glyphs.len(), 1, "{glyphs:?}");
        assert_eq!(glyphs[0].cluster, 0);
    }

    #[test]
    fn a_pre_base_vowel_sign_is_drawn_before_its_consonant() {
        // Myanmar: ka + vowel sign e, drawn e first; the clusters still start at 0.
        let myanmar = book().font(index("NotoSansMyanmar-Regular.ttf")).unwrap();
        let glyphs = myanmar.shape("ကေ", false).unwrap();
        let e = myanmar.face.glyph_index('\u{1031}').unwrap().0;
        assert_eq!(glyphs[0].id, e, "{glyphs:?}");
        // Devanagari: ka + vowel sign i, drawn i first.
        let devanagari = book().font(index("NotoSansDevanagari-Regular.ttf")).unwrap();
        let glyphs = devanagari.shape("कि", false).unwrap();
        assert_eq!(glyphs.len(), 2);
        assert_ne!(glyphs[0].id, devanagari.face.glyph_index('क').unwrap().0);
    }

    #[test]
    fn clusters_count_utf16_code_units() {
        let fallback = book().font(index("DroidSansFallbackFull.ttf")).unwrap();
        let glyphs = fallback.shape("中文", false).unwrap();
        assert_eq!(glyphs.iter().map(|g| g.cluster).collect::<Vec<_>>(), vec![0, 1]);
        // Clusters start at characters: a at byte 0, 𝄞 (two code units) at 1, b at 5, the end at 6.
        let at = utf16_offsets("a𝄞b");
        assert_eq!([at[0], at[1], at[5], at[6]], [0, 1, 3, 4]);
    }

    #[test]
    fn too_much_text_at_once_and_unknown_fonts_are_refused() {
        let latin = book().font(0).unwrap();
        let err = latin.shape(&"a".repeat(MAX_SHAPE_BYTES + 1), false).unwrap_err();
        assert!(err.starts_with("text:"), "{err}");
        assert!(book().font(99).err().unwrap().contains("no font 99"));
    }

    #[test]
    fn a_missing_font_is_named_with_the_folders_looked_in() {
        let empty = tempfile::tempdir().unwrap();
        let book = FontBook::new(vec![empty.path().to_path_buf()]);
        let err = book.font(0).err().unwrap();
        assert!(
            err.contains("NotoSans-Regular.ttf is not installed")
                && err.contains(&empty.path().display().to_string()),
            "{err}"
        );
    }
}

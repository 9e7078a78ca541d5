//! `TOC.txt`: the list of components an sstable has.

/// Component names listed in a TOC.txt, in file order, without blanks.
pub fn parse_toc(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses() {
        let t = super::parse_toc(b"Data.db\nTOC.txt\r\n\nCRC.db\n");
        assert_eq!(t, ["Data.db", "TOC.txt", "CRC.db"]);
    }
}

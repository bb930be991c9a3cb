//! The two CRCs of the format: CRC-32/BZIP2 (per-file trailers) and CRC-32C (XPress9 block headers).

/// CRC-32/BZIP2: polynomial 0x04C11DB7, init and xorout 0xFFFFFFFF, not reflected.
const BZIP2_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04C1_1DB7 } else { crc << 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-32C (Castagnoli), reflected polynomial 0x82F63B78.
const CASTAGNOLI_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// An incremental CRC-32/BZIP2, the checksum that trails every file when the header's `ErrorCode` is true.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bzip2Crc {
    state: u32,
}

impl Default for Bzip2Crc {
    fn default() -> Self {
        Self { state: 0xFFFF_FFFF }
    }
}

impl Bzip2Crc {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        let mut crc = self.state;
        for &b in bytes {
            crc = (crc << 8) ^ BZIP2_TABLE[((crc >> 24) as u8 ^ b) as usize];
        }
        self.state = crc;
    }

    pub(crate) fn finish(self) -> u32 {
        self.state ^ 0xFFFF_FFFF
    }
}

/// CRC-32/BZIP2 of a whole buffer.
pub(crate) fn bzip2(bytes: &[u8]) -> u32 {
    let mut crc = Bzip2Crc::default();
    crc.update(bytes);
    crc.finish()
}

/// CRC-32C of a whole buffer.
pub(crate) fn castagnoli(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc = (crc >> 8) ^ CASTAGNOLI_TABLE[(crc as u8 ^ b) as usize];
    }
    crc ^ 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    #[test]
    fn check_values() {
        // The catalogue check values of both CRCs, over "123456789".
        assert_eq!(super::bzip2(b"123456789"), 0xFC89_1918);
        assert_eq!(super::castagnoli(b"123456789"), 0xE306_9283);
        let mut split = super::Bzip2Crc::default();
        split.update(b"1234");
        split.update(b"56789");
        assert_eq!(split.finish(), 0xFC89_1918);
    }
}

//! Chain files: a genesis and a sequence of blocks, for the generator, imports and benchmarks.
//!
//! Layout: the magic line `FERRITE-CHAIN-1\n`, then `u32` LE length + genesis JSON, then for each
//! block `u32` LE length + canonical block encoding, to the end of the file.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use ferrite_core::encoding::{Decode, Encode};
use ferrite_core::genesis::{GenesisConfig, GenesisError, MAX_BLOCK_SIZE_CAP};
use ferrite_core::{Block, DecodeError};

/// First bytes of every chain file.
pub const MAGIC: &[u8] = b"FERRITE-CHAIN-1\n";
/// Largest genesis JSON accepted: 100,000 allocations of ~90 bytes.
const MAX_GENESIS_JSON: u32 = 16 * 1024 * 1024;

/// Why a chain file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ChainFileError {
    /// Reading or writing failed.
    #[error("chain file unreadable or unwritable")]
    Io(#[from] std::io::Error),
    /// Not a chain file.
    #[error("not a Ferrite chain file (bad magic)")]
    BadMagic,
    /// A length field is beyond its limit.
    #[error("chain file record of {0} bytes is too large")]
    TooLarge(u32),
    /// The genesis does not parse or validate.
    #[error("chain file genesis: {0}")]
    Genesis(#[from] GenesisError),
    /// A block does not decode.
    #[error("chain file block {index}: {error}")]
    Block {
        /// Position in the file.
        index: u64,
        /// Why.
        error: DecodeError,
    },
}

/// Writes a chain file.
pub struct ChainWriter {
    out: BufWriter<std::fs::File>,
}

impl ChainWriter {
    /// Creates `path` with `genesis`.
    pub fn create(path: &Path, genesis: &GenesisConfig) -> Result<Self, ChainFileError> {
        let mut out = BufWriter::new(std::fs::File::create(path)?);
        out.write_all(MAGIC)?;
        let json = genesis.to_json();
        out.write_all(&(json.len() as u32).to_le_bytes())?;
        out.write_all(json.as_bytes())?;
        Ok(ChainWriter { out })
    }

    /// Appends a block.
    pub fn push(&mut self, block: &Block) -> Result<(), ChainFileError> {
        let bytes = block.encode();
        self.out.write_all(&(bytes.len() as u32).to_le_bytes())?;
        self.out.write_all(&bytes)?;
        Ok(())
    }

    /// Flushes to disk.
    pub fn finish(mut self) -> Result<(), ChainFileError> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        Ok(())
    }
}

/// Reads a chain file.
pub struct ChainReader {
    input: BufReader<std::fs::File>,
    /// The file's genesis.
    pub genesis: GenesisConfig,
    index: u64,
}

fn read_len(input: &mut impl Read) -> Result<Option<u32>, ChainFileError> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => Ok(Some(u32::from_le_bytes(len))),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl ChainReader {
    /// Opens `path` and reads its genesis.
    pub fn open(path: &Path) -> Result<Self, ChainFileError> {
        let mut input = BufReader::new(std::fs::File::open(path)?);
        let mut magic = [0u8; MAGIC.len()];
        input
            .read_exact(&mut magic)
            .map_err(|_| ChainFileError::BadMagic)?;
        if magic != MAGIC {
            return Err(ChainFileError::BadMagic);
        }
        let len = read_len(&mut input)?.ok_or(ChainFileError::BadMagic)?;
        if len > MAX_GENESIS_JSON {
            return Err(ChainFileError::TooLarge(len));
        }
        let mut json = vec![0u8; len as usize];
        input.read_exact(&mut json)?;
        let text = String::from_utf8(json).map_err(|e| GenesisError::Json(e.to_string()))?;
        let genesis = GenesisConfig::from_json(&text)?;
        Ok(ChainReader {
            input,
            genesis,
            index: 0,
        })
    }

    /// The next block, or `None` at the end.
    pub fn next_block(&mut self) -> Result<Option<Block>, ChainFileError> {
        let Some(len) = read_len(&mut self.input)? else {
            return Ok(None);
        };
        if u64::from(len) > MAX_BLOCK_SIZE_CAP {
            return Err(ChainFileError::TooLarge(len));
        }
        let mut bytes = vec![0u8; len as usize];
        self.input.read_exact(&mut bytes)?;
        let block = Block::decode(&bytes).map_err(|error| ChainFileError::Block {
            index: self.index,
            error,
        })?;
        self.index += 1;
        Ok(Some(block))
    }
}

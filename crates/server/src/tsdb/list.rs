//! `narthex tsdb list`: the blocks of a data directory, as `promtool tsdb list` prints them.

use narthex_tsdb::{Db, Options};

use super::{Error, block_table, write_stdout};
use crate::cli::ListArgs;

pub(crate) fn run(args: &ListArgs) -> Result<(), Error> {
    let db = Db::open_read_only(&args.db_path, Options::default())?;
    let blocks: Vec<_> = db.blocks().iter().map(|b| (b.meta(), b.size())).collect();
    write_stdout(&block_table(&blocks, true, args.human_readable))
}

// Package output writes tarjama's results: results.csv, results.json and
// results.jsonl in the --output directory, one record per input row, in
// input order.
//
// Writer (from Open) implements jobs.Sink. It writes every format at once,
// row by row, through buffered temporary files in the output directory, so
// memory does not grow with the number of rows. Close commits: it flushes,
// fsyncs and closes each temporary file, renames it over the final name and
// fsyncs the directory. Abort, or a Close that fails, removes the temporary
// files and leaves the previous outputs byte for byte as they were. Each
// file is replaced atomically on its own; the set is not: should a rename
// fail after another one succeeded (all data is already on disk by then,
// so only the rename itself can fail), the directory holds a new file next
// to an old one, and Close reports the error.
//
// Files and directories are private by default: output creates the files
// 0600 (temporary files included) and the directories it makes 0700, since
// they hold the articles. Options.Perm (and WriteRunRecord's perm) sets
// other modes, exactly: the process's umask does not narrow them. An
// existing directory keeps its mode.
//
// The lower-level CSVWriter, JSONWriter and JSONLWriter take an io.Writer.
//
// # results.csv
//
// Columns, in this order: id, title_en, translation, key_points, status,
// error, then every carried-through input column (Options.Columns, taken
// from Result.Source by name; a missing one is empty), then model,
// prompt_tokens, completion_tokens. Token counts are plain integers.
//
// key_points holds one point per line, each line starting with "• ". A line
// break inside a point is replaced by a space, so that every line of the
// cell is one point; results.json keeps the points exactly.
//
// Every cell, the header included, goes through Guard: a cell that starts
// with '=', '+', '-', '@', a tab or a carriage return gets a leading "'" so
// that spreadsheets take it for text and not for a formula.
//
// Line ends are "\n", as encoding/csv writes them by default. With
// Options.Excel:
//   - the file starts with a UTF-8 byte-order mark, without which Excel
//     shows Arabic as mojibake;
//   - records end with "\r\n", and so do line breaks inside cells; a
//     carriage return that is not followed by a line feed is dropped
//     (encoding/csv's UseCRLF behaviour);
//   - a cell longer than Excel's limit of 32,767 characters, which Excel
//     counts in UTF-16 code units, is cut so that, with the marker
//     " …[truncated: N characters in results.json]" appended, it is at most
//     32,767 UTF-16 units long. N is the length of the whole cell in
//     Unicode characters (code points), as results.csv without --excel
//     would hold it. The marker names results.json even when only CSV is
//     written. The cut never falls inside a surrogate pair (a
//     character outside the Basic Multilingual Plane, such as most emoji),
//     before a combining mark (Arabic diacritics) or next to a zero-width
//     joiner.
//
// A CSV reader turns "\r\n" inside a quoted cell into "\n" (encoding/csv
// does), so such a cell does not read back byte for byte; results.json
// does.
//
// # results.json and results.jsonl
//
// results.json is a JSON array with one object per row, written as a
// stream: "[\n", the objects separated by ",\n", then "\n]\n" ("[]\n" when
// there are no rows). results.jsonl holds the same objects, one per line.
// Each object has exactly these fields, in this order: id, status, error,
// title_en, translation, key_points (an array, never null), source (the
// carried-through columns of Result.Source, in input order), model, usage
// {prompt_tokens, completion_tokens}, input_sha256, prompt_version. Values
// are exact: no spreadsheet guard, no cut, '<', '>' and '&' unescaped and
// non-ASCII text as UTF-8 (encoding/json still escapes U+2028 and U+2029,
// and replaces invalid UTF-8 with U+FFFD).
//
// # run.json
//
// WriteRunRecord writes the account of a run (a jobs.RunRecord: status,
// exit code, counts, tokens, cost, the first failed rows) to run.json
// beside the results, as indented JSON, replaced atomically in the same
// way as the results (temporary file, fsync, rename, directory fsync).
package output

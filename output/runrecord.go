package output

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// RunRecordName is the name of the file WriteRunRecord writes.
const RunRecordName = "run.json"

// WriteRunRecord writes rec (a jobs.RunRecord) as indented JSON to
// dir/run.json, creating dir (0755) if missing. The file is replaced
// atomically, as the results are: a reader sees the previous run.json or
// the whole new one, and on error the previous one stays as it was. Its
// permission is DefaultPerm.
func WriteRunRecord(dir string, rec any) error {
	if dir == "" {
		return ErrNoDir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	return writeAtomic(dir, RunRecordName, DefaultPerm, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(rec)
	})
}

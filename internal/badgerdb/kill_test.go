package badgerdb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The kill test's knobs. PN_KILL_RUNS raises the number of kills for a
// soak; PN_KILL_SEED replays a logged run.
const (
	defaultKillRuns = 40
	// maxKillDelay bounds the random wait, after the child says it is
	// opening, before it is killed: long enough to reach its writes, log
	// rotations and memtable flushes, short enough for 40 runs in seconds.
	maxKillDelay = 40 * time.Millisecond
	// childTxnKeys is the keys each child transaction writes, alternately
	// small and large.
	childTxnKeys = 4
	// Environment of the child process.
	envKillChild = "PN_KILL_CHILD_DIR"
	envKillRun   = "PN_KILL_CHILD_RUN"
)

// killOptions are testOptions that also flush and compact often.
func killOptions(dir string, w *warnings) badger.Options {
	return testOptions(dir, w).WithNumMemtables(2).WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(4).WithBaseTableSize(testMemTable).WithNumCompactors(2)
}

// childKey is the key i of transaction txn of run.
func childKey(run, txn, i int) string { return fmt.Sprintf("run%04d/txn%06d/%d", run, txn, i) }

// TestOpenSurvivesKill kills, at random moments, a process writing through
// Open (SIGKILL, as a power cut would stop it, though the page cache
// survives), then reopens through Open and checks every transaction the
// process reported committed is there.
func TestOpenSurvivesKill(t *testing.T) {
	if dir := os.Getenv(envKillChild); dir != "" {
		killChild(dir)
		return
	}
	runs := envInt(t, "PN_KILL_RUNS", defaultKillRuns)
	seed := uint64(envInt(t, "PN_KILL_SEED", int(time.Now().UnixNano())))
	t.Logf("%d runs, PN_KILL_SEED=%d", runs, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	dir := t.TempDir()
	committed := map[int]int{} // run → transactions it reported committed
	w := &warnings{}
	for run := range runs {
		delay := time.Duration(rng.Int64N(int64(maxKillDelay)))
		committed[run] = killOnce(t, dir, run, delay)
		db, err := Open(killOptions(dir, w))
		if err != nil {
			t.Fatalf("run %d, killed %v after opening with %d transactions committed: %v", run, delay, committed[run], err)
		}
		checkCommitted(t, db, committed)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for _, n := range committed {
		total += n
	}
	t.Logf("%d transactions committed; repairs: %q", total, w.all())
}

// envInt is the integer in the environment variable name, or def.
func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

// killOnce starts a child writing to dir, kills it delay after it says it
// is opening the database, and returns how many transactions it reported
// committed.
func killOnce(t *testing.T, dir string, run int, delay time.Duration) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenSurvivesKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), envKillChild+"="+dir, envKillRun+"="+strconv.Itoa(run))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewReader(stdout)
	if line, err := lines.ReadString('\n'); line != "opening\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("run %d: child said %q (%v), want opening\n%s", run, line, err, stderr.String())
	}
	time.Sleep(delay) // the random moment of the kill, not a synchronisation
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	n, readErr := countCommitted(lines)
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("run %d: child ended with %v before it was killed\n%s", run, err, stderr.String())
	}
	if readErr != nil {
		t.Fatalf("run %d: %v", run, readErr)
	}
	return n
}

// countCommitted reads the child's "committed N" lines to the end and
// returns the count. A line cut short by the kill is not counted.
func countCommitted(r *bufio.Reader) (int, error) {
	n := 0
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if line != fmt.Sprintf("committed %d\n", n) {
			return n, fmt.Errorf("child said %q, want committed %d", line, n)
		}
		n++
	}
}

// checkCommitted fails unless db holds every transaction in committed.
func checkCommitted(t *testing.T, db *badger.DB, committed map[int]int) {
	t.Helper()
	err := db.View(func(txn *badger.Txn) error {
		for run, n := range committed {
			for tx := range n {
				for i := range childTxnKeys {
					if err := checkKey(txn, childKey(run, tx, i), i); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkKey fails unless txn reads key's sample value.
func checkKey(txn *badger.Txn, key string, i int) error {
	item, err := txn.Get([]byte(key))
	if err != nil {
		return fmt.Errorf("committed key %s: %w", key, err)
	}
	got, err := item.ValueCopy(nil)
	if err != nil {
		return fmt.Errorf("committed key %s: %w", key, err)
	}
	if !bytes.Equal(got, sampleValue(key, i)) {
		return fmt.Errorf("committed key %s: wrong value", key)
	}
	return nil
}

// killChild opens the database in dir and commits transactions until it
// is killed, saying "committed N" once transaction N is synced.
func killChild(dir string) {
	run, err := strconv.Atoi(os.Getenv(envKillRun))
	if err != nil {
		fail(err)
	}
	fmt.Print("opening\n")
	db, err := Open(killOptions(dir, &warnings{}))
	if err != nil {
		fail(err)
	}
	for tx := 0; ; tx++ {
		err := db.Update(func(txn *badger.Txn) error {
			for i := range childTxnKeys {
				key := childKey(run, tx, i)
				if err := txn.Set([]byte(key), sampleValue(key, i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			fail(err)
		}
		fmt.Printf("committed %d\n", tx)
	}
}

// fail ends the child with err on stderr; the parent reports it.
func fail(err error) {
	fmt.Fprintln(os.Stderr, strings.TrimSpace(err.Error()))
	os.Exit(2)
}

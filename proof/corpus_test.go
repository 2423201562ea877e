package proof_test

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// endpoint is one form or JSON endpoint of the site, from
// testdata/hostile/endpoints.json, with a request it would refuse or that changes
// nothing (a wrong password, a token that does not exist): the hostile test only
// ever sends mutations of it, each of which the site must refuse.
type endpoint struct {
	Name   string            `json:"name"`
	Method string            `json:"method"` // POST when empty
	Path   string            `json:"path"`   // "{token}" stands for Token
	Token  string            `json:"token"`
	Query  map[string]string `json:"query"`
	Auth   string            `json:"auth"`  // "", "member" or "staff"
	Stamp  bool              `json:"stamp"` // send the form's signed timestamp
	// JSONUnstamped: JSON requests need no timestamp (the accounts API: a script is
	// not a form a bot fills in; the per-address limit still holds).
	JSONUnstamped bool              `json:"json_unstamped"`
	Strict        bool              `json:"strict"` // refuses a field it does not know
	Fields        map[string]string `json:"fields"`
	Required      []string          `json:"required"`
	Single        []string          `json:"single"` // one-line fields
	Emails        []string          `json:"emails"`
	Flags         []string          `json:"flags"` // checkboxes: any value is "ticked", and none is kept
}

// hostileValue is one line of testdata/hostile/values.txt.
type hostileValue struct {
	Class string // any, single, email or text
	Value string
}

// readValue reads a Go string literal or "repeat N literal".
func readValue(tb testing.TB, s string) string {
	tb.Helper()
	if rest, ok := strings.CutPrefix(s, "repeat "); ok {
		n, lit, _ := strings.Cut(rest, " ")
		times, err := strconv.Atoi(n)
		require.NoError(tb, err, s)
		v, err := strconv.Unquote(lit)
		require.NoError(tb, err, s)
		return strings.Repeat(v, times)
	}
	v, err := strconv.Unquote(s)
	require.NoError(tb, err, s)
	return v
}

func loadEndpoints(tb testing.TB) []endpoint {
	tb.Helper()
	b, err := os.ReadFile("testdata/hostile/endpoints.json")
	require.NoError(tb, err)
	var eps []endpoint
	require.NoError(tb, json.Unmarshal(b, &eps))
	for i := range eps {
		if eps[i].Method == "" {
			eps[i].Method = "POST"
		}
	}
	return eps
}

// loadLines reads a corpus file of "class<TAB>value" lines, skipping comments.
func loadLines(tb testing.TB, path string) [][2]string {
	tb.Helper()
	f, err := os.Open(path)
	require.NoError(tb, err)
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		class, v, ok := strings.Cut(line, "\t")
		require.True(tb, ok, "%s: no tab in %q", path, line)
		out = append(out, [2]string{class, v})
	}
	require.NoError(tb, sc.Err())
	return out
}

func loadValues(tb testing.TB) []hostileValue {
	var out []hostileValue
	for _, l := range loadLines(tb, "testdata/hostile/values.txt") {
		out = append(out, hostileValue{Class: l[0], Value: readValue(tb, l[1])})
	}
	return out
}

// rawBody is one line of testdata/hostile/bodies.txt: a body the site must refuse
// whatever endpoint it is sent to.
type rawBody struct {
	ContentType string
	Body        string
}

func loadBodies(tb testing.TB) []rawBody {
	var out []rawBody
	for _, l := range loadLines(tb, "testdata/hostile/bodies.txt") {
		out = append(out, rawBody{ContentType: l[0], Body: readValue(tb, l[1])})
	}
	return out
}

// The image corpus: files under testdata/hostile/images, each refused by the
// photo upload. inLimitBomb is within the pixel limit but decodes to 16 bits a
// channel: TestLargestPhoto measures what it costs the server. They are written by
// TestWriteImageCorpus with CONSENTKIT_PROOF_WRITE_CORPUS=1.
const inLimitBomb = "png-6300x6300-rgba64.png"

// TestWriteImageCorpus (re)writes testdata/hostile/images. It runs only with
// CONSENTKIT_PROOF_WRITE_CORPUS=1: the files are kept in the repository.
func TestWriteImageCorpus(t *testing.T) {
	if os.Getenv("CONSENTKIT_PROOF_WRITE_CORPUS") != "1" {
		t.Skip("set CONSENTKIT_PROOF_WRITE_CORPUS=1 to rewrite testdata/hostile/images")
	}
	dir := "testdata/hostile/images"
	require.NoError(t, os.MkdirAll(dir, 0o755))
	write := func(name string, b []byte) { require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644)) }

	// PNG headers that declare more pixels than the limit, over a few bytes of data.
	write("png-50000x50000.png", pngFile(50000, 50000, 8, 6, zlibZeros(1, 64)))
	write("png-1x2147483647.png", pngFile(1, 1<<31-1, 8, 0, zlibZeros(1, 64)))
	// A complete image inside the 40-megapixel limit whose 317 MB of 16-bit pixels
	// compress to a few hundred kilobytes: what one accepted upload can cost.
	write(inLimitBomb, pngFile(6300, 6300, 16, 6, zlibZeros(6300, 1+6300*8)))

	small := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, small))
	write("png-truncated.png", b.Bytes()[:b.Len()/2])
	write("png-polyglot.png", append(append([]byte(nil), b.Bytes()[:16]...), "<html><script>alert(1)</script></html>"...))

	b.Reset()
	require.NoError(t, jpeg.Encode(&b, image.NewRGBA(image.Rect(0, 0, 16, 16)), nil))
	write("jpeg-65500x65500.jpg", jpegSize(t, b.Bytes(), 65500, 65500))

	write("gif-10000x10000.gif", gifFile(10000, 10000, 1))
	write("gif-frames-100x1000x1000.gif", gifFile(1000, 1000, 100))
	write("webp-16384x16384.webp", webpVP8X(16384, 16384))
	write("svg-script.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
	write("html.png", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"))
	write("empty.png", nil)
}

func pngChunk(w *bytes.Buffer, typ string, data []byte) {
	_ = binary.Write(w, binary.BigEndian, uint32(len(data)))
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	w.WriteString(typ)
	w.Write(data)
	_ = binary.Write(w, binary.BigEndian, crc.Sum32())
}

// pngFile returns a PNG of w x h pixels (color type 6 is RGBA, 0 is gray) whose
// image data is idat.
func pngFile(w, h uint32, depth, colorType byte, idat []byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = depth, colorType
	pngChunk(&b, "IHDR", ihdr)
	pngChunk(&b, "IDAT", idat)
	pngChunk(&b, "IEND", nil)
	return b.Bytes()
}

// zlibZeros compresses rows rows of rowLen zero bytes (filter byte included).
func zlibZeros(rows, rowLen int) []byte {
	var b bytes.Buffer
	z, _ := zlib.NewWriterLevel(&b, zlib.BestCompression)
	row := make([]byte, rowLen)
	for range rows {
		z.Write(row)
	}
	z.Close()
	return b.Bytes()
}

// jpegSize rewrites the size in a JPEG's start-of-frame segment.
func jpegSize(tb testing.TB, b []byte, w, h uint16) []byte {
	out := append([]byte(nil), b...)
	for i := 2; i+9 < len(out); {
		require.Equal(tb, byte(0xFF), out[i], "JPEG marker expected at %d", i)
		marker := out[i+1]
		if marker == 0xC0 || marker == 0xC2 {
			binary.BigEndian.PutUint16(out[i+5:], h)
			binary.BigEndian.PutUint16(out[i+7:], w)
			return out
		}
		i += 2 + int(binary.BigEndian.Uint16(out[i+2:]))
	}
	tb.Fatal("no start-of-frame segment")
	return nil
}

// gifFile returns a GIF whose screen is w x h with frames frames of that size,
// each holding only a clear code and an end code.
func gifFile(w, h uint16, frames int) []byte {
	var b bytes.Buffer
	b.WriteString("GIF89a")
	_ = binary.Write(&b, binary.LittleEndian, w)
	_ = binary.Write(&b, binary.LittleEndian, h)
	b.Write([]byte{0x80, 0, 0}) // a global color table of 2 colors
	b.Write([]byte{0, 0, 0, 255, 255, 255})
	for range frames {
		b.WriteByte(0x2C)
		_ = binary.Write(&b, binary.LittleEndian, [4]uint16{0, 0, w, h})
		b.WriteByte(0)
		b.Write([]byte{2, 1, 0x2C, 0}) // min code size 2; one byte: clear (4), end (5)
	}
	b.WriteByte(0x3B)
	return b.Bytes()
}

// webpVP8X returns a WebP container whose extended header declares w x h.
func webpVP8X(w, h uint32) []byte {
	chunk := make([]byte, 10)
	put24 := func(p []byte, v uint32) { p[0], p[1], p[2] = byte(v), byte(v>>8), byte(v>>16) }
	put24(chunk[4:], w-1)
	put24(chunk[7:], h-1)
	var body bytes.Buffer
	body.WriteString("WEBPVP8X")
	_ = binary.Write(&body, binary.LittleEndian, uint32(len(chunk)))
	body.Write(chunk)
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(body.Len()))
	b.Write(body.Bytes())
	return b.Bytes()
}

package accounts_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/image/webp"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

// secret is written into each test image's metadata; a clean photo must not hold it.
const secret = "Home: 51 deg 30' N"

// exifGPS returns an EXIF block ("Exif\0\0" and a little-endian TIFF) whose IFD0
// has an ImageDescription holding secret and a GPS IFD with a latitude.
func exifGPS() []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	w16 := func(v uint16) { _ = binary.Write(&b, le, v) }
	w32 := func(v uint32) { _ = binary.Write(&b, le, v) }
	b.WriteString("II*\x00")
	w32(8)
	// IFD0 at 8: two entries.
	w16(2)
	descOff := uint32(8 + 2 + 2*12 + 4)
	gpsOff := descOff + uint32(len(secret)+1)
	w16(0x010E) // ImageDescription
	w16(2)      // ASCII
	w32(uint32(len(secret) + 1))
	w32(descOff)
	w16(0x8825) // GPSInfo
	w16(4)      // LONG
	w32(1)
	w32(gpsOff)
	w32(0) // no next IFD
	b.WriteString(secret + "\x00")
	// GPS IFD: GPSLatitudeRef "N", GPSLatitude 51/1 30/1 0/1.
	w16(2)
	ratOff := gpsOff + 2 + 2*12 + 4
	w16(1)
	w16(2)
	w32(2)
	b.WriteString("N\x00\x00\x00")
	w16(2)
	w16(5) // RATIONAL
	w32(3)
	w32(ratOff)
	w32(0)
	for _, v := range []uint32{51, 1, 30, 1, 0, 1} {
		w32(v)
	}
	return append([]byte("Exif\x00\x00"), b.Bytes()...)
}

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 16, 12))
	for y := range 12 {
		for x := range 16 {
			img.Set(x, y, color.RGBA{uint8(x * 16), uint8(y * 20), 128, 255})
		}
	}
	return img
}

func jpegWithEXIF(t *testing.T) []byte {
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, testImage(), nil))
	ex := exifGPS()
	seg := []byte{0xFF, 0xE1, byte((len(ex) + 2) >> 8), byte(len(ex) + 2)}
	out := append([]byte{0xFF, 0xD8}, seg...)
	out = append(out, ex...)
	out = append(out, buf.Bytes()[2:]...)
	return out
}

func pngChunk(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

func pngWithMetadata(t *testing.T) []byte {
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, testImage()))
	b := buf.Bytes()
	ihdrEnd := 8 + 8 + 13 + 4
	out := append([]byte(nil), b[:ihdrEnd]...)
	out = append(out, pngChunk("eXIf", exifGPS()[6:])...)
	out = append(out, pngChunk("tEXt", []byte("Comment\x00"+secret))...)
	return append(out, b[ihdrEnd:]...)
}

func gifWithComment(t *testing.T, frames int) []byte {
	pal := color.Palette{color.Black, color.White}
	g := &gif.GIF{}
	for i := range frames {
		f := image.NewPaletted(image.Rect(0, 0, 10, 10), pal)
		f.SetColorIndex(i%10, i%10, 1)
		g.Image = append(g.Image, f)
		g.Delay = append(g.Delay, 10)
	}
	var buf bytes.Buffer
	require.NoError(t, gif.EncodeAll(&buf, g))
	b := buf.Bytes()
	// After the header, the screen descriptor and any global colour table.
	at := 13
	if b[10]&0x80 != 0 {
		at += 3 << ((b[10] & 7) + 1)
	}
	comment := append([]byte{0x21, 0xFE, byte(len(secret))}, secret...)
	comment = append(comment, 0)
	return append(append(append([]byte(nil), b[:at]...), comment...), b[at:]...)
}

// A 1x1 lossless WebP.
var tinyWebP, _ = base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")

func riffChunk(fourcc string, data []byte) []byte {
	out := append([]byte(fourcc), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

// webpWithEXIF is the extended form of tinyWebP with EXIF (GPS) and XMP chunks and
// their VP8X flags set.
func webpWithEXIF() []byte {
	vp8x := []byte{0x08 | 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0} // EXIF and XMP flags; canvas 1x1
	body := []byte("WEBP")
	body = append(body, riffChunk("VP8X", vp8x)...)
	body = append(body, tinyWebP[12:]...)
	body = append(body, riffChunk("EXIF", exifGPS()[6:])...)
	body = append(body, riffChunk("XMP ", []byte(`<x:xmpmeta><rdf:Description exif:GPSLatitude="51,30N" dc:description="`+secret+`"/></x:xmpmeta>`))...)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

func assertClean(t *testing.T, b []byte) {
	t.Helper()
	assert.False(t, bytes.Contains(b, []byte(secret)), "the metadata text is gone")
	assert.False(t, bytes.Contains(b, []byte("Exif\x00\x00")), "no EXIF block")
	assert.False(t, bytes.Contains(b, []byte("II*\x00")), "no TIFF (EXIF) structure")
	assert.False(t, bytes.Contains(b, []byte("GPSLatitude")), "no GPS")
}

func TestCleanPhoto(t *testing.T) {
	t.Run("JPEG", func(t *testing.T) {
		in := jpegWithEXIF(t)
		require.True(t, bytes.Contains(in, []byte(secret)))
		ct, out, err := accounts.CleanPhoto(in, 40_000_000)
		require.NoError(t, err)
		assert.Equal(t, "image/jpeg", ct)
		assertClean(t, out)
		img, err := jpeg.Decode(bytes.NewReader(out))
		require.NoError(t, err)
		assert.Equal(t, image.Pt(16, 12), img.Bounds().Size())
	})
	t.Run("PNG", func(t *testing.T) {
		in := pngWithMetadata(t)
		_, err := png.Decode(bytes.NewReader(in))
		require.NoError(t, err, "the test image is a valid PNG")
		ct, out, err := accounts.CleanPhoto(in, 40_000_000)
		require.NoError(t, err)
		assert.Equal(t, "image/png", ct)
		assertClean(t, out)
		assert.False(t, bytes.Contains(out, []byte("eXIf")))
		assert.False(t, bytes.Contains(out, []byte("tEXt")))
		img, err := png.Decode(bytes.NewReader(out))
		require.NoError(t, err)
		assert.Equal(t, testImage().At(5, 5), img.At(5, 5), "pixels kept exactly")
	})
	t.Run("GIF", func(t *testing.T) {
		in := gifWithComment(t, 3)
		_, err := gif.DecodeAll(bytes.NewReader(in))
		require.NoError(t, err, "the test image is a valid GIF")
		ct, out, err := accounts.CleanPhoto(in, 40_000_000)
		require.NoError(t, err)
		assert.Equal(t, "image/gif", ct)
		assertClean(t, out)
		g, err := gif.DecodeAll(bytes.NewReader(out))
		require.NoError(t, err)
		assert.Len(t, g.Image, 3, "the animation is kept")
	})
	t.Run("WebP", func(t *testing.T) {
		in := webpWithEXIF()
		_, err := webp.Decode(bytes.NewReader(in))
		require.NoError(t, err, "the test image is a valid WebP")
		require.True(t, bytes.Contains(in, []byte("II*\x00")))
		ct, out, err := accounts.CleanPhoto(in, 40_000_000)
		require.NoError(t, err)
		assert.Equal(t, "image/webp", ct)
		assertClean(t, out)
		assert.False(t, bytes.Contains(out, []byte("EXIF")), "EXIF chunk removed")
		assert.False(t, bytes.Contains(out, []byte("XMP ")), "XMP chunk removed")
		assert.Equal(t, byte(0), out[20]&(0x08|0x04), "VP8X EXIF and XMP flags cleared")
		assert.Equal(t, uint32(len(out)-8), binary.LittleEndian.Uint32(out[4:8]), "RIFF size rewritten")
		img, err := webp.Decode(bytes.NewReader(out))
		require.NoError(t, err, "still a valid WebP")
		assert.Equal(t, image.Pt(1, 1), img.Bounds().Size())
	})
}

func TestCleanPhotoRefuses(t *testing.T) {
	bombPNG := func() []byte {
		// A PNG header claiming 100,000 x 100,000 pixels: refused on DecodeConfig
		// before a byte of pixels is allocated.
		ihdr := make([]byte, 13)
		binary.BigEndian.PutUint32(ihdr[0:], 100_000)
		binary.BigEndian.PutUint32(ihdr[4:], 100_000)
		ihdr[8], ihdr[9] = 8, 2
		out := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
		return append(out, pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	}
	for _, tc := range []struct {
		name      string
		data      []byte
		maxPixels int64
		msg       string
	}{
		{"Text", []byte("just some text, not an image"), 40_000_000, "upload a JPEG"},
		{"HTMLNamedJPEG", []byte("<html><script>alert(1)</script></html>"), 40_000_000, "upload a JPEG"},
		{"SVG", []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`), 40_000_000, "upload a JPEG"},
		{"PNGBomb", bombPNG(), 40_000_000, "megapixels"},
		{"TooManyPixels", pngWithMetadata(t), 100, "megapixels"},
		{"GIFFramesTogetherTooMany", gifWithComment(t, 5), 450, "megapixels"},
		{"TruncatedJPEG", jpegWithEXIF(t)[:200], 40_000_000, "could not be read"},
		{"TruncatedWebP", webpWithEXIF()[:40], 40_000_000, "could not be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := accounts.CleanPhoto(tc.data, tc.maxPixels)
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, "file", privacy.FieldOf(err))
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestGIFFrames(t *testing.T) {
	n, area, err := accounts.GIFFrames(gifWithComment(t, 4))
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	assert.Equal(t, int64(400), area)
	for _, bad := range [][]byte{nil, []byte("GIF89a"), []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00\x99"), gifWithComment(t, 1)[:30]} {
		_, _, err := accounts.GIFFrames(bad)
		assert.Error(t, err)
	}
}

func TestStripWebPMalformed(t *testing.T) {
	good := webpWithEXIF()
	for _, bad := range [][]byte{nil, []byte("RIFF"), good[:10], append([]byte("RIFX"), good[4:]...), good[:len(good)-3]} {
		_, err := accounts.StripWebP(bad)
		assert.Error(t, err)
	}
	lying := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(lying[16:20], 1<<30) // VP8X chunk claims a gigabyte
	_, err := accounts.StripWebP(lying)
	assert.Error(t, err)
}

func TestResources(t *testing.T) {
	e := newEnv(t, func(c *accounts.Config) { c.Quota = 6000; c.PhotoMaxBytes = 4000 })
	ctx := context.Background()
	e.member("ann@example.org", "correct horse")
	e.member("bob@example.org", "correct horse")
	_, ann := e.signIn("ann@example.org", "correct horse")
	_, bob := e.signIn("bob@example.org", "correct horse")

	photo, err := e.svc.AddPhoto(ann, "holiday", accounts.Community, jpegWithEXIF(t))
	require.NoError(t, err)
	assert.Equal(t, "image/jpeg", photo.ContentType)
	stored, err := e.store.Resource(ctx, photo.ID)
	require.NoError(t, err)
	assertClean(t, stored.Data)

	note, err := e.svc.AddText(ann, accounts.KindNote, "private", "my\nnote", "")
	require.NoError(t, err)
	assert.Equal(t, accounts.Private, note.Visibility, "private by default")
	msg, err := e.svc.AddText(bob, accounts.KindMessage, "", "hello all", accounts.Community)
	require.NoError(t, err)

	mine, err := e.svc.MyResources(ann)
	require.NoError(t, err)
	assert.Len(t, mine, 2)
	comm, err := e.svc.CommunityResources(bob, 0)
	require.NoError(t, err)
	require.Len(t, comm, 2)
	for _, r := range comm {
		assert.NotContains(t, r.Author, "@", "authors are shown by display name only")
	}
	_, err = e.svc.CommunityResources(ctx, 0)
	assert.ErrorIs(t, err, privacy.ErrUnauthorized, "the community is the members")

	got, err := e.svc.GetResource(bob, photo.ID)
	require.NoError(t, err, "community photos are visible to members")
	assert.NotEmpty(t, got.Data)
	_, err = e.svc.GetResource(bob, note.ID)
	assert.ErrorIs(t, err, privacy.ErrNotFound, "a private note is not even acknowledged")
	_, err = e.svc.GetResource(ann, msg.ID)
	assert.NoError(t, err)
	assert.ErrorIs(t, e.svc.DeleteResource(bob, photo.ID), privacy.ErrNotFound, "only the owner deletes")

	for _, tc := range []struct {
		name, field string
		call        func() error
	}{
		{"KindUnknown", "kind", func() error { _, err := e.svc.AddText(ann, "poem", "", "x", ""); return err }},
		{"BodyEmpty", "body", func() error { _, err := e.svc.AddText(ann, accounts.KindNote, "", " ", ""); return err }},
		{"BodyControl", "body", func() error { _, err := e.svc.AddText(ann, accounts.KindNote, "", "a\x1bb", ""); return err }},
		{"MessageTooLong", "body", func() error {
			_, err := e.svc.AddText(ann, accounts.KindMessage, "", strings.Repeat("m", 2001), "")
			return err
		}},
		{"Visibility", "visibility", func() error { _, err := e.svc.AddText(ann, accounts.KindNote, "", "x", "public"); return err }},
		{"TitleNewline", "title", func() error { _, err := e.svc.AddText(ann, accounts.KindNote, "a\nb", "x", ""); return err }},
		{"PhotoTooLarge", "file", func() error { _, err := e.svc.AddPhoto(ann, "", "", make([]byte, 4001)); return err }},
		{"PhotoEmpty", "file", func() error { _, err := e.svc.AddPhoto(ann, "", "", nil); return err }},
		{"QuotaFull", "file", func() error {
			_, err := e.svc.AddText(ann, accounts.KindNote, "", strings.Repeat("q", 6000), "")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, tc.field, privacy.FieldOf(err))
		})
	}
	_, err = e.svc.AddText(ctx, accounts.KindNote, "", "x", "")
	assert.ErrorIs(t, err, privacy.ErrUnauthorized)

	require.NoError(t, e.svc.DeleteResource(ann, photo.ID))
	used, quota, err := e.svc.Usage(ann)
	require.NoError(t, err)
	assert.Equal(t, int64(len("private")+len("my\nnote")), used)
	assert.Equal(t, int64(6000), quota)
}

func TestCleanPhotoCountsDecodedBytes(t *testing.T) {
	encode := func(img image.Image) []byte {
		var b bytes.Buffer
		require.NoError(t, png.Encode(&b, img))
		return b.Bytes()
	}
	wide := encode(image.NewRGBA64(image.Rect(0, 0, 100, 100))) // 10,000 pixels of 8 bytes
	narrow := encode(image.NewRGBA(image.Rect(0, 0, 100, 100))) // 10,000 pixels of 4 bytes
	_, _, err := accounts.CleanPhoto(wide, 15_000)
	require.ErrorIs(t, err, privacy.ErrInvalid, "within the pixel limit, but twice the memory of 8-bit pixels")
	assert.Equal(t, "file", privacy.FieldOf(err))
	_, _, err = accounts.CleanPhoto(narrow, 15_000)
	assert.NoError(t, err)
}

// flatPNG returns a w x h 8-bit RGBA PNG of one colour, written row by row so
// that making it allocates no pixels: a 36-megapixel one is about 140 KB.
func flatPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	var idat bytes.Buffer
	zw, err := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	require.NoError(t, err)
	row := make([]byte, 1+4*w) // filter byte "none", then transparent black
	for range h {
		_, err := zw.Write(row)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	out := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", idat.Bytes())...)
	return append(out, pngChunk("IEND", nil)...)
}

// uploadAll sends n uploads of file at once and returns the answers. It makes no
// assertion itself, so it is safe to call with many goroutines.
func uploadAll(t *testing.T, s *server, token string, n int, file []byte) []resp {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile("file", "photo.png")
	require.NoError(t, err)
	_, _ = fw.Write(file)
	require.NoError(t, mw.Close())
	body := b.Bytes()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	out := make([]resp, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/accounts/me/resources", bytes.NewReader(body))
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := client.Do(req)
			if err != nil {
				out[i] = resp{status: -1, body: err.Error()}
				return
			}
			defer res.Body.Close()
			rb, _ := io.ReadAll(res.Body)
			out[i] = resp{res.StatusCode, res.Header, string(rb)}
		})
	}
	wg.Wait()
	return out
}

// vmHWM is the process's peak resident memory so far, from /proc/self/status
// (Linux only; zero elsewhere).
func vmHWM() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// 40 concurrent uploads of a 120 KB, 36-megapixel PNG are refused by the default
// pixel limit, naming the field, before any is decoded, so the heap barely moves
// (audit #13 finding 16: VmHWM went from 48 to 881 MB).
func TestHTTPPhotoBombsRefusedConcurrently(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{})
	e.member("bomb@example.org", "correct horse")
	tok, _ := e.signIn("bomb@example.org", "correct horse")
	big := flatPNG(t, 6000, 6000)
	t.Logf("a %d-megapixel PNG of %d KB", 36, len(big)>>10)

	runtime.GC()
	hwm := vmHWM()
	stop := samplePeakHeap()
	answers := uploadAll(t, s, tok, 40, big)
	peak := stop()
	t.Logf("peak live heap %.1f MiB; VmHWM %.1f -> %.1f MiB", float64(peak)/(1<<20), float64(hwm)/(1<<20), float64(vmHWM())/(1<<20))
	for i, r := range answers {
		require.Equal(t, http.StatusBadRequest, r.status, "upload %d: %s", i, r.body)
		assert.Equal(t, "file", errorField(t, r), "upload %d", i)
		assert.Contains(t, r.body, "megapixels", "upload %d", i)
	}
	assert.Less(t, peak, uint64(64<<20), "no upload decoded its pixels")
}

// Decodes run at most Config.PhotoSlots at once (default 2); an upload that waits
// longer than Config.PhotoWait for a slot is answered 503 with Retry-After.
func TestHTTPPhotoDecodesBounded(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{})
	e.member("many@example.org", "correct horse")
	tok, _ := e.signIn("many@example.org", "correct horse")
	var now, peak atomic.Int32
	e.svc.OnPhotoDecode(func() {
		n := now.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(10 * time.Millisecond)
		now.Add(-1)
	})
	for i, r := range uploadAll(t, s, tok, 40, flatPNG(t, 64, 64)) {
		require.Equal(t, http.StatusCreated, r.status, "upload %d: %s", i, r.body)
	}
	assert.Equal(t, int32(2), peak.Load(), "decodes at once")

	busy := newEnv(t, func(c *accounts.Config) { c.PhotoWait = 20 * time.Millisecond })
	bs := newServer(t, busy, accounts.HandlerConfig{})
	busy.member("busy@example.org", "correct horse")
	btok, _ := busy.signIn("busy@example.org", "correct horse")
	release := busy.svc.HoldPhotoSlots()
	start := time.Now()
	r := upload(t, bs, btok, nil, flatPNG(t, 64, 64))
	release()
	assert.Equal(t, http.StatusServiceUnavailable, r.status, r.body)
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	assert.Less(t, time.Since(start), 2*time.Second, "gave up at PhotoWait")
	assert.Equal(t, http.StatusCreated, upload(t, bs, btok, nil, flatPNG(t, 64, 64)).status, "a slot came free")
}

// TestPhotoMemoryUnderCap measures 40 concurrent uploads of a 16-megapixel PNG,
// the largest the default accepts, which are decoded Config.PhotoSlots at a time:
// it logs the peak live heap and VmHWM for 2 slots (the default) and for 8 (the old
// default, GOMAXPROCS, on an 8-core machine). It takes a while, so it runs only with
// CONSENTKIT_MEMORY=1.
func TestPhotoMemoryUnderCap(t *testing.T) {
	if os.Getenv("CONSENTKIT_MEMORY") != "1" {
		t.Skip("set CONSENTKIT_MEMORY=1 to measure the memory of concurrent photo decodes")
	}
	file := flatPNG(t, 4000, 4000)
	for _, slots := range []int{2, 8} {
		t.Run(fmt.Sprintf("slots=%d", slots), func(t *testing.T) {
			e := newEnv(t, func(c *accounts.Config) { c.PhotoSlots = slots; c.PhotoWait = time.Minute })
			s := newServer(t, e, accounts.HandlerConfig{})
			e.member("m@example.org", "correct horse")
			tok, _ := e.signIn("m@example.org", "correct horse")
			runtime.GC()
			hwm := vmHWM()
			stop := samplePeakHeap()
			answers := uploadAll(t, s, tok, 40, file)
			peak := stop()
			statuses := map[int]int{}
			for _, r := range answers {
				statuses[r.status]++
			}
			t.Logf("slots=%d: peak live heap %.1f MiB; VmHWM %.1f -> %.1f MiB; answers %v", slots,
				float64(peak)/(1<<20), float64(hwm)/(1<<20), float64(vmHWM())/(1<<20), statuses)
			assert.Equal(t, 40, statuses[http.StatusCreated])
		})
	}
}

package accounts_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
)

// quadrants is what an upright test photo shows: red top left, green top right,
// blue bottom left, yellow bottom right.
var quadrants = [2][2]color.RGBA{
	{{255, 0, 0, 255}, {0, 255, 0, 255}},
	{{0, 0, 255, 255}, {255, 255, 0, 255}},
}

// upright is a w x h image of the four quadrants.
func upright(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, quadrants[y*2/h][x*2/w])
		}
	}
	return img
}

// sides are, for each EXIF orientation, the sides of the upright picture where the
// stored image's first row and first column lie, as the EXIF 2.3 table of tag
// 0x0112 gives them.
var sides = map[int][2]string{
	1: {"top", "left"}, 2: {"top", "right"}, 3: {"bottom", "right"}, 4: {"bottom", "left"},
	5: {"left", "top"}, 6: {"right", "top"}, 7: {"right", "bottom"}, 8: {"left", "bottom"},
}

// asStored returns the pixels a camera would write for the upright picture up
// with orientation o, built from the table rather than from a rotation.
func asStored(up *image.RGBA, o int) *image.RGBA {
	w, h := up.Bounds().Dx(), up.Bounds().Dy()
	rowSide, colSide := sides[o][0], sides[o][1]
	sw, sh := w, h
	if rowSide == "left" || rowSide == "right" {
		sw, sh = h, w
	}
	// at places index i counted from side into the upright coordinates.
	at := func(side string, i int, vx, vy *int) {
		switch side {
		case "top":
			*vy = i
		case "bottom":
			*vy = h - 1 - i
		case "left":
			*vx = i
		case "right":
			*vx = w - 1 - i
		}
	}
	out := image.NewRGBA(image.Rect(0, 0, sw, sh))
	for r := range sh {
		for c := range sw {
			var vx, vy int
			at(rowSide, r, &vx, &vy)
			at(colSide, c, &vx, &vy)
			out.Set(c, r, up.At(vx, vy))
		}
	}
	return out
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// exifOrientation returns an APP1 segment (marker, length, "Exif\0\0" and a TIFF
// structure in byte order bo) whose IFD0 holds a DateTime and then Orientation o,
// so that the parser has to walk past an entry.
func exifOrientation(bo byteOrder, o uint16) []byte {
	var t []byte
	if bo == binary.LittleEndian {
		t = append(t, "II"...)
	} else {
		t = append(t, "MM"...)
	}
	t = bo.AppendUint16(t, 42)
	t = bo.AppendUint32(t, 8)
	t = bo.AppendUint16(t, 2)
	date := "2024:05:01 12:00:00\x00"
	t = bo.AppendUint16(t, 0x0132) // DateTime, ASCII, stored after the IFD
	t = bo.AppendUint16(t, 2)
	t = bo.AppendUint32(t, uint32(len(date)))
	t = bo.AppendUint32(t, 8+2+2*12+4)
	t = bo.AppendUint16(t, 0x0112) // Orientation, one SHORT
	t = bo.AppendUint16(t, 3)
	t = bo.AppendUint32(t, 1)
	t = bo.AppendUint16(t, o)
	t = bo.AppendUint16(t, 0)
	t = bo.AppendUint32(t, 0) // no next IFD
	t = append(t, date...)
	body := append([]byte("Exif\x00\x00"), t...)
	seg := []byte{0xFF, 0xE1}
	seg = binary.BigEndian.AppendUint16(seg, uint16(len(body)+2))
	return append(seg, body...)
}

// withSegment inserts seg just after a JPEG's start-of-image marker.
func withSegment(jpg, seg []byte) []byte {
	out := append([]byte{0xFF, 0xD8}, seg...)
	return append(out, jpg[2:]...)
}

func encodeJPEG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}))
	return buf.Bytes()
}

// near reports whether got is within a JPEG's error of want.
func near(got color.Color, want color.RGBA) bool {
	r, g, b, _ := got.RGBA()
	d := func(a uint32, b uint8) bool { return max(int(a>>8), int(b))-min(int(a>>8), int(b)) <= 48 }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

func TestCleanPhotoAppliesOrientation(t *testing.T) {
	const w, h = 64, 48
	up := upright(w, h)
	for o := 1; o <= 8; o++ {
		for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
			t.Run(fmt.Sprintf("%d/%v", o, bo), func(t *testing.T) {
				in := withSegment(encodeJPEG(t, asStored(up, o)), exifOrientation(bo, uint16(o)))
				require.Equal(t, o, accounts.JPEGOrientation(in))
				ct, out, err := accounts.CleanPhoto(in, 40_000_000)
				require.NoError(t, err)
				assert.Equal(t, "image/jpeg", ct)
				assert.False(t, bytes.Contains(out, []byte("Exif\x00\x00")), "no EXIF left to turn it twice")
				img, err := jpeg.Decode(bytes.NewReader(out))
				require.NoError(t, err)
				require.Equal(t, image.Pt(w, h), img.Bounds().Size(), "upright size")
				for qy := range 2 {
					for qx := range 2 {
						got := img.At(w/4+qx*w/2, h/4+qy*h/2)
						assert.True(t, near(got, quadrants[qy][qx]), "quadrant (%d,%d)=%v, want %v", qx, qy, got, quadrants[qy][qx])
					}
				}
			})
		}
	}
}

func TestOrientExact(t *testing.T) {
	up := upright(6, 4)
	gray := image.NewGray(up.Bounds())
	for y := range 4 {
		for x := range 6 {
			gray.SetGray(x, y, color.Gray{uint8(y*6 + x)})
		}
	}
	for o := 1; o <= 8; o++ {
		got := accounts.Orient(asStored(up, o), o)
		require.Equal(t, up.Bounds().Size(), got.Bounds().Size(), "o=%d", o)
		for y := range 4 {
			for x := range 6 {
				require.Equal(t, up.At(x, y), color.RGBAModel.Convert(got.At(x, y)), "o=%d at (%d,%d)", o, x, y)
			}
		}
		// A Gray image keeps its type; its stored form is built the same way.
		storedGray := image.NewGray(asStored(up, o).Bounds())
		sg := asStored(grayAsRGBA(gray), o)
		for y := range storedGray.Bounds().Dy() {
			for x := range storedGray.Bounds().Dx() {
				storedGray.Set(x, y, sg.At(x, y))
			}
		}
		g, ok := accounts.Orient(storedGray, o).(*image.Gray)
		require.True(t, ok, "o=%d: Gray stays Gray", o)
		assert.Equal(t, gray.Pix, g.Pix, "o=%d", o)
	}
	assert.Same(t, up, accounts.Orient(up, 1))
	assert.Same(t, up, accounts.Orient(up, 9), "out of range is left alone")
}

func grayAsRGBA(g *image.Gray) *image.RGBA {
	out := image.NewRGBA(g.Bounds())
	for y := range g.Bounds().Dy() {
		for x := range g.Bounds().Dx() {
			out.Set(x, y, g.At(x, y))
		}
	}
	return out
}

func TestJPEGOrientation(t *testing.T) {
	jpg := encodeJPEG(t, upright(8, 8))
	exif6 := exifOrientation(binary.BigEndian, 6)
	for _, tc := range []struct {
		name string
		in   []byte
		want int
	}{
		{"NoEXIF", jpg, 1},
		{"Six", withSegment(jpg, exif6), 6},
		{"AfterOtherAPP", withSegment(jpg, append([]byte{0xFF, 0xE0, 0x00, 0x04, 'J', 'F'}, exif6...)), 6},
		{"FillBytes", withSegment(jpg, append([]byte{0xFF, 0xFF}, exif6...)), 6},
		{"OutOfRange", withSegment(jpg, exifOrientation(binary.LittleEndian, 9)), 1},
		{"Zero", withSegment(jpg, exifOrientation(binary.LittleEndian, 0)), 1},
		{"Truncated", withSegment(jpg, exif6)[:30], 1},
		{"BadByteOrder", bytes.Replace(withSegment(jpg, exif6), []byte("MM\x00*"), []byte("XX\x00*"), 1), 1},
		{"BadMagic", bytes.Replace(withSegment(jpg, exif6), []byte("MM\x00*"), []byte("MM\x00+"), 1), 1},
		{"AfterScan", append(bytes.Clone(jpg[:len(jpg)-2]), exif6...), 1},
		{"NotJPEG", []byte("GIF89a"), 1},
		{"Empty", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, accounts.JPEGOrientation(tc.in))
		})
	}
}

package accounts

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"net/http"

	"golang.org/x/image/webp"

	"github.com/consentkit/consentkit/privacy"
)

// CleanPhoto checks an uploaded photo and returns its sniffed content type and a
// copy without metadata. JPEG, PNG and GIF are sized with image.DecodeConfig
// before anything is decoded (a GIF's frames are summed by walking its blocks), so
// an image bomb is refused without allocating its pixels; they are then decoded and
// re-encoded, which keeps pixels only; a JPEG's EXIF orientation is applied to its
// pixels first, since the tag that told viewers to turn it does not survive. WebP, which Go cannot encode, is decoded to
// prove it is sound and then has its EXIF and XMP chunks removed from the RIFF
// container and their flags cleared. Returns ErrInvalid naming "file" for anything
// that is not one of the four types, cannot be read, has more than maxPixels pixels,
// or would take more memory to decode than maxPixels 8-bit RGBA pixels (a 16-bit
// image counts double).
//
// One call decodes at most about 4 x maxPixels bytes of pixels, and a JPEG that is
// turned takes a copy of 1.5 bytes a pixel more (4 for the rare CMYK JPEG); a colour
// JPEG's decode itself holds at most 3. CleanPhoto does not bound how many calls
// run at once: Service.AddPhoto does (Config.PhotoSlots).
func CleanPhoto(data []byte, maxPixels int64) (contentType string, clean []byte, err error) {
	ct, err := checkPhoto(data, maxPixels)
	if err != nil {
		return "", nil, err
	}
	unreadable := privacy.Invalid("file", "the image could not be read")
	var out bytes.Buffer
	switch ct {
	case "image/jpeg":
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			return "", nil, unreadable
		}
		img = Orient(img, JPEGOrientation(data))
		err = jpeg.Encode(&out, img, &jpeg.Options{Quality: 90})
		if err != nil {
			return "", nil, err
		}
	case "image/png":
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			return "", nil, unreadable
		}
		if err := png.Encode(&out, img); err != nil {
			return "", nil, err
		}
	case "image/gif":
		g, err := gif.DecodeAll(bytes.NewReader(data))
		if err != nil {
			return "", nil, unreadable
		}
		if err := gif.EncodeAll(&out, g); err != nil {
			return "", nil, unreadable
		}
	case "image/webp":
		if _, err := webp.Decode(bytes.NewReader(data)); err != nil {
			return "", nil, privacy.Invalid("file", "the WebP image could not be read (animated WebP is not supported)")
		}
		b, err := StripWebP(data)
		if err != nil {
			return "", nil, unreadable
		}
		return ct, b, nil
	}
	return ct, out.Bytes(), nil
}

// checkPhoto returns data's sniffed type once its header shows it to be one of
// the four types, sound and within maxPixels (every frame of a GIF together). It
// reads headers and block structure only: no pixel is decoded.
func checkPhoto(data []byte, maxPixels int64) (contentType string, err error) {
	ct := http.DetectContentType(data)
	unreadable := privacy.Invalid("file", "the image could not be read")
	tooBig := privacy.Invalid("file", "the image has more than %d megapixels", maxPixels/1_000_000)
	var cfg image.Config
	switch ct {
	case "image/jpeg":
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	case "image/png":
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	case "image/gif":
		cfg, err = gif.DecodeConfig(bytes.NewReader(data))
	case "image/webp":
		cfg, err = webp.DecodeConfig(bytes.NewReader(data))
	default:
		return "", privacy.Invalid("file", "upload a JPEG, PNG, GIF or WebP image")
	}
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return "", unreadable
	}
	pixels := int64(cfg.Width) * int64(cfg.Height)
	if pixels > maxPixels || pixels*bytesPerPixel(cfg.ColorModel) > maxPixels*4 {
		return "", tooBig
	}
	if ct == "image/gif" {
		_, area, err := GIFFrames(data)
		if err != nil {
			return "", unreadable
		}
		if area > maxPixels {
			return "", tooBig
		}
	}
	return ct, nil
}

// JPEGOrientation returns the EXIF Orientation (1 to 8) of a JPEG: the value of tag
// 0x0112 in IFD0 of the first APP1 segment that starts "Exif\x00\x00". It returns 1,
// meaning upright, when there is no such tag, when its value is out of range, or when
// the file or its TIFF structure is malformed; it reads no further than the first
// scan.
func JPEGOrientation(b []byte) int {
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
		return 1
	}
	for p := 2; p+4 <= len(b); {
		if b[p] != 0xFF {
			return 1
		}
		marker := b[p+1]
		switch {
		case marker == 0xFF: // a fill byte before the marker
			p++
			continue
		case marker == 0x01 || marker >= 0xD0 && marker <= 0xD8: // no length
			p += 2
			continue
		case marker == 0xD9 || marker == 0xDA: // end of image, start of scan
			return 1
		}
		n := int(binary.BigEndian.Uint16(b[p+2:]))
		if n < 2 || p+2+n > len(b) {
			return 1
		}
		seg := b[p+4 : p+2+n]
		if marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return tiffOrientation(seg[6:])
		}
		p += 2 + n
	}
	return 1
}

// tiffOrientation reads the Orientation tag from IFD0 of a TIFF structure.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	ifd := int64(bo.Uint32(t[4:]))
	if ifd+2 > int64(len(t)) {
		return 1
	}
	count := int64(bo.Uint16(t[ifd:]))
	for i := range count {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(t)) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		var v uint32
		switch typ := bo.Uint16(t[e+2:]); {
		case typ == 3 && bo.Uint32(t[e+4:]) == 1: // one SHORT, in the value field
			v = uint32(bo.Uint16(t[e+8:]))
		case typ == 4 && bo.Uint32(t[e+4:]) == 1: // one LONG, as a few writers store it
			v = bo.Uint32(t[e+8:])
		}
		if v < 1 || v > 8 {
			return 1
		}
		return int(v)
	}
	return 1
}

// Orient returns img turned and flipped as EXIF orientation o asks a viewer to
// show it, so that the result is upright with orientation 1; orientations 5 to 8
// swap width and height. It returns img itself for 1 and for any value outside
// 1 to 8. A YCbCr image gives a 4:2:0 YCbCr copy (what jpeg.Encode writes
// anyway) and a Gray one a Gray copy; anything else gives an RGBA copy.
func Orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	// src maps a pixel of the upright result to the pixel of img it shows.
	src := func(x, y int) (int, int) {
		switch o {
		case 2:
			x = w - 1 - x
		case 3:
			x, y = w-1-x, h-1-y
		case 4:
			y = h - 1 - y
		case 5:
			x, y = y, x
		case 6:
			x, y = y, h-1-x
		case 7:
			x, y = w-1-y, h-1-x
		case 8:
			x, y = w-1-y, x
		}
		return r.Min.X + x, r.Min.Y + y
	}
	switch s := img.(type) {
	case *image.YCbCr:
		d := image.NewYCbCr(image.Rect(0, 0, dw, dh), image.YCbCrSubsampleRatio420)
		for y := range dh {
			for x := range dw {
				sx, sy := src(x, y)
				d.Y[d.YOffset(x, y)] = s.Y[s.YOffset(sx, sy)]
				// A chroma sample takes the value of the last of its pixels.
				ci, si := d.COffset(x, y), s.COffset(sx, sy)
				d.Cb[ci], d.Cr[ci] = s.Cb[si], s.Cr[si]
			}
		}
		return d
	case *image.Gray:
		d := image.NewGray(image.Rect(0, 0, dw, dh))
		for y := range dh {
			for x := range dw {
				d.Pix[d.PixOffset(x, y)] = s.Pix[s.PixOffset(src(x, y))]
			}
		}
		return d
	}
	d := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range dh {
		for x := range dw {
			d.Set(x, y, img.At(src(x, y)))
		}
	}
	return d
}

var errRIFF = errors.New("webp: malformed RIFF container")

// webpKeep are the chunks kept: image data, alpha, animation, and the colour
// profile. Every other chunk, EXIF and XMP included, may carry metadata and goes.
var webpKeep = map[string]bool{"VP8 ": true, "VP8L": true, "VP8X": true, "ALPH": true, "ANIM": true, "ANMF": true, "ICCP": true}

// StripWebP returns a copy of a WebP file without its EXIF, XMP and unknown chunks,
// with the VP8X flags for EXIF and XMP cleared and the RIFF size rewritten. It
// returns an error for a container that is truncated or inconsistent.
func StripWebP(b []byte) ([]byte, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return nil, errRIFF
	}
	size := int64(binary.LittleEndian.Uint32(b[4:8]))
	if size < 4 || size+8 > int64(len(b)) {
		return nil, errRIFF
	}
	body := b[12 : 8+size]
	out := make([]byte, 12, len(b))
	copy(out, b[:12])
	for len(body) > 0 {
		if len(body) < 8 {
			return nil, errRIFF
		}
		fourcc := string(body[:4])
		n := int64(binary.LittleEndian.Uint32(body[4:8]))
		if 8+n > int64(len(body)) {
			return nil, errRIFF
		}
		end := 8 + n
		if n%2 == 1 && end < int64(len(body)) {
			end++ // the pad byte
		}
		chunk := body[:end]
		body = body[end:]
		if !webpKeep[fourcc] {
			continue
		}
		start := len(out)
		out = append(out, chunk...)
		if n%2 == 1 && int64(len(chunk)) == 8+n {
			out = append(out, 0)
		}
		if fourcc == "VP8X" {
			if n < 1 {
				return nil, errRIFF
			}
			const exifBit, xmpBit = 1 << 3, 1 << 2
			out[start+8] &^= exifBit | xmpBit
		}
	}
	binary.LittleEndian.PutUint32(out[4:8], uint32(len(out)-8))
	return out, nil
}

var errGIF = errors.New("gif: malformed block structure")

// GIFFrames walks a GIF's blocks without decoding any pixels and returns the
// number of frames and their total area, so that an animation whose frames would
// together take gigabytes is refused before gif.DecodeAll allocates them.
func GIFFrames(b []byte) (frames int, area int64, err error) {
	if len(b) < 13 || (string(b[:6]) != "GIF87a" && string(b[:6]) != "GIF89a") {
		return 0, 0, errGIF
	}
	p := 13
	if b[10]&0x80 != 0 {
		p += 3 << ((b[10] & 7) + 1)
	}
	skipSubBlocks := func() error {
		for {
			if p >= len(b) {
				return errGIF
			}
			n := int(b[p])
			p++
			if n == 0 {
				return nil
			}
			p += n
		}
	}
	for {
		if p >= len(b) {
			return 0, 0, errGIF
		}
		switch b[p] {
		case 0x21: // extension: label, then sub-blocks
			p += 2
			if err := skipSubBlocks(); err != nil {
				return 0, 0, err
			}
		case 0x2C: // image descriptor
			if p+10 > len(b) {
				return 0, 0, errGIF
			}
			w := int64(binary.LittleEndian.Uint16(b[p+5:]))
			h := int64(binary.LittleEndian.Uint16(b[p+7:]))
			packed := b[p+9]
			p += 10
			if packed&0x80 != 0 {
				p += 3 << ((packed & 7) + 1)
			}
			p++ // LZW minimum code size
			if err := skipSubBlocks(); err != nil {
				return 0, 0, err
			}
			frames++
			area += w * h
		case 0x3B: // trailer
			return frames, area, nil
		default:
			return 0, 0, errGIF
		}
	}
}

// bytesPerPixel is what one pixel of an image in model takes once decoded.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	case color.Gray16Model:
		return 2
	case color.GrayModel, color.AlphaModel:
		return 1
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 4
}

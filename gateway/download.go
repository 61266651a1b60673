package gateway

// This file gives REST downloads HTTP's semantics from what a native
// response stream announces (native.StreamInfo): Content-Length, ETag,
// Last-Modified, Content-Type, ranges (206, 416), conditional requests
// (304) and HEAD.

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/framegate/framegate/native"
)

// downloadOptions are the call options of a REST request for a response
// stream: its Range and If-Range (GET only), HEAD as a head-only call, and
// where the stream's announcement goes.
func downloadOptions(r *http.Request, info *native.StreamInfo) []native.CallOption {
	opts := []native.CallOption{native.Info(info)}
	switch r.Method {
	case http.MethodHead:
		opts = append(opts, native.HeadOnly())
	case http.MethodGet:
		if spec := r.Header.Get("Range"); spec != "" {
			opts = append(opts, native.Range(spec, r.Header.Get("If-Range")))
		}
	}
	return opts
}

// notModified reports whether a GET or HEAD's conditions say the client's
// copy is current (304): If-None-Match names the entity tag (weakly
// compared), or, without If-None-Match, If-Modified-Since is not before
// the modification time.
func notModified(r *http.Request, info *native.StreamInfo) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if info.ETag == "" {
			return false
		}
		for _, tag := range strings.Split(inm, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(info.ETag, "W/") {
				return true
			}
		}
		return false
	}
	ims := r.Header.Get("If-Modified-Since")
	if ims == "" || info.ModTime.IsZero() {
		return false
	}
	t, err := http.ParseTime(ims)
	return err == nil && !info.ModTime.Truncate(time.Second).After(t)
}

// setDownloadHeaders writes what the stream announced as HTTP headers and
// returns the status: 206 for a part, else 200.
func setDownloadHeaders(h http.Header, info *native.StreamInfo, contentType string) int {
	if contentType == "" {
		contentType = info.ContentType
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	h.Set("Content-Type", contentType)
	setValidators(h, info)
	if info.ETag != "" || info.Partial() {
		h.Set("Accept-Ranges", "bytes")
	}
	if info.Length >= 0 {
		h.Set("Content-Length", strconv.FormatInt(info.Length, 10))
	}
	if info.Partial() {
		h.Set("Content-Range", "bytes "+strconv.FormatInt(info.Offset, 10)+"-"+strconv.FormatInt(info.Offset+info.Length-1, 10)+"/"+strconv.FormatInt(info.Size, 10))
		return http.StatusPartialContent
	}
	return http.StatusOK
}

// setValidators writes the entity tag and modification time.
func setValidators(h http.Header, info *native.StreamInfo) {
	if info.ETag != "" {
		h.Set("Etag", info.ETag)
	}
	if !info.ModTime.IsZero() {
		h.Set("Last-Modified", info.ModTime.UTC().Format(http.TimeFormat))
	}
}

// writeNotModified answers 304 with the validators.
func writeNotModified(w http.ResponseWriter, info *native.StreamInfo) {
	setValidators(w.Header(), info)
	w.WriteHeader(http.StatusNotModified)
}

// rangeNotSatisfiable answers 416 to a range that starts past the end of a
// resource of the size the backend gave (native.RangeSizeKey); it reports
// false when err is not such a refusal.
func rangeNotSatisfiable(w http.ResponseWriter, r *http.Request, hdr native.Metadata, err error) bool {
	size := hdr.Get(native.RangeSizeKey)
	if native.CodeOf(err) != native.CodeOutOfRange || size == "" || r.Header.Get("Range") == "" {
		return false
	}
	if _, perr := strconv.ParseUint(size, 10, 63); perr != nil {
		return false
	}
	w.Header().Set("Content-Range", "bytes */"+size)
	return true
}

// streamMetadataKeys are response metadata keys the gateway never passes
// through: they would contradict the body it sends (its length and range
// are the gateway's to state, from the stream's announcement).
var streamMetadataKeys = []string{"content-length", "content-range", native.RangeSizeKey}

// withoutStreamKeys returns md without streamMetadataKeys.
func withoutStreamKeys(md native.Metadata) native.Metadata {
	for _, k := range streamMetadataKeys {
		if _, ok := md[k]; ok {
			md = md.Clone()
			for _, k := range streamMetadataKeys {
				delete(md, k)
			}
			return md
		}
	}
	return md
}

// streamMetadata is a gRPC download's response metadata: the backend's,
// and what the stream announced of itself: its length, type, entity tag
// and modification time.
func streamMetadata(info *native.StreamInfo, backend native.Metadata) native.Metadata {
	md := backend.Clone()
	if md == nil {
		md = native.Metadata{}
	}
	if info.Length >= 0 {
		md.Set("x-content-length", strconv.FormatInt(info.Length, 10))
	}
	if info.ContentType != "" {
		md.Set("x-content-type", info.ContentType)
	}
	if info.ETag != "" {
		md.Set("etag", info.ETag)
	}
	if !info.ModTime.IsZero() {
		md.Set("last-modified", info.ModTime.UTC().Format(http.TimeFormat))
	}
	return md
}

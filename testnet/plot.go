package testnet

import (
	"fmt"
	"io"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Plot size: two panels side by side, each about a printed column wide.
const (
	plotWidth  = 26 * vg.Centimeter
	plotHeight = 10 * vg.Centimeter
)

// WritePlots writes r's plots as one SVG: on the left the delivery CDF, one
// line per system (the share of live nodes delivered by each time), on the
// right the bytes the vendor's origin and the peers served, beside the
// origin's bytes over plain HTTP when that baseline ran.
func WritePlots(w io.Writer, r *Report) error {
	cdf, err := deliveryCDF(r)
	if err != nil {
		return fmt.Errorf("plotting delivery CDF: %w", err)
	}
	egress, err := egressBars(r)
	if err != nil {
		return fmt.Errorf("plotting egress: %w", err)
	}
	img := vgsvg.New(plotWidth, plotHeight)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Centimeter, PadTop: vg.Millimeter,
		PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: vg.Millimeter}
	panels := [][]*plot.Plot{{cdf, egress}}
	canvases := plot.Align(panels, tiles, draw.New(img))
	cdf.Draw(canvases[0][0])
	egress.Draw(canvases[0][1])
	if _, err := img.WriteTo(w); err != nil {
		return fmt.Errorf("writing plots: %w", err)
	}
	return nil
}

// cdfSeries is one system's sorted delivery times, in ms, and the share of
// live nodes they make up.
type cdfSeries struct {
	label string
	ms    []float64
	share float64
}

// cdfSeriesOf takes each system's times from r.Deliveries; patchnet's come
// from the samples' install times when Deliveries lacks them.
func cdfSeriesOf(r *Report) []cdfSeries {
	var out []cdfSeries
	for _, key := range systemOrder(r.Deliveries) {
		out = append(out, newCDFSeries(SystemLabel(key), r.Deliveries[key], r.Results[key].Delivered))
	}
	if _, ok := r.Deliveries[ResultPatchnet]; ok || len(r.Samples) == 0 {
		return out
	}
	var installs []float64
	for _, s := range r.Samples {
		if s.Install > 0 {
			installs = append(installs, ms(s.Install))
		}
	}
	share := r.Results[ResultPatchnet].Delivered
	if share == 0 {
		share = float64(len(installs)) / float64(len(r.Samples))
	}
	pn := newCDFSeries(SystemLabel(ResultPatchnet), installs, share)
	return append([]cdfSeries{pn}, out...)
}

// newCDFSeries sorts times; a share of 0 (unknown) counts them as all.
func newCDFSeries(label string, times []float64, share float64) cdfSeries {
	if share <= 0 {
		share = 1
	}
	s := slices.Clone(times)
	slices.Sort(s)
	return cdfSeries{label: label, ms: s, share: share}
}

// points are the series' CDF as a post-step line: at each delivery time the
// delivered share rises by one node's worth.
func (c cdfSeries) points(scale float64) plotter.XYs {
	if len(c.ms) == 0 {
		return nil
	}
	xys := plotter.XYs{{X: c.ms[0] / scale, Y: 0}}
	for i, t := range c.ms {
		xys = append(xys, plotter.XY{X: t / scale, Y: c.share * float64(i+1) / float64(len(c.ms))})
	}
	return xys
}

func deliveryCDF(r *Report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Delivery CDF (%s, %d agents)", r.Scenario, r.Nodes)
	p.Y.Label.Text = "share of live agents"
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top, p.Legend.Left = true, true // a CDF leaves the top left empty
	series := cdfSeriesOf(r)
	scale, unit := 1.0, "ms"
	for _, s := range series {
		if len(s.ms) > 0 && s.ms[len(s.ms)-1] >= 2000 {
			scale, unit = 1000, "s"
		}
	}
	p.X.Label.Text = "time from publication (" + unit + ")"
	if lo, hi := timeRange(series); lo > 0 && hi/lo >= logScaleSpan {
		// An HTTP baseline's tail can be 100× patchnet's: on a linear axis
		// patchnet's whole curve would be one vertical line.
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.X.Label.Text += ", log scale"
	}
	for i, s := range series {
		xys := s.points(scale)
		if len(xys) == 0 {
			continue
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.label, err)
		}
		line.StepStyle = plotter.PostStep
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i)
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(s.label, line)
	}
	return p, nil
}

// logScaleSpan is the ratio of the slowest delivery to the fastest from
// which the CDF's time axis is logarithmic.
const logScaleSpan = 20

// timeRange is the fastest and slowest delivery of all series, in ms.
func timeRange(series []cdfSeries) (lo, hi float64) {
	lo = math.Inf(1)
	for _, s := range series {
		if len(s.ms) > 0 {
			lo, hi = min(lo, s.ms[0]), max(hi, s.ms[len(s.ms)-1])
		}
	}
	return lo, hi
}

// egressBars compares the bytes served: the origin and the peers with
// patchnet, and the origin alone with the HTTP baseline when it ran.
func egressBars(r *Report) (*plot.Plot, error) {
	labels := []string{"origin (patchnet)", "peers (patchnet)"}
	bytes := []int64{r.OriginEgressBytes, r.PeerEgressBytes}
	if _, ok := r.Results[ResultHTTPOrigin]; ok || r.HTTPOriginEgressBytes > 0 {
		labels = append(labels, "origin (HTTP baseline)")
		bytes = append(bytes, r.HTTPOriginEgressBytes)
	}
	scale, unit := byteUnit(slices.Max(bytes))
	values := make(plotter.Values, len(bytes))
	for i, b := range bytes {
		values[i] = float64(b) / scale
	}
	bars, err := plotter.NewBarChart(values, vg.Centimeter)
	if err != nil {
		return nil, err
	}
	bars.Color = plotutil.Color(0)
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Egress (%s artifact)", fmtBytes(r.ArtifactBytes))
	p.Y.Label.Text = unit
	p.Y.Min = 0
	p.Add(bars)
	p.NominalX(labels...)
	return p, nil
}

// byteUnit is the binary unit that shows n in a readable range.
func byteUnit(n int64) (float64, string) {
	switch {
	case n >= 1<<30:
		return 1 << 30, "GiB"
	case n >= 1<<20:
		return 1 << 20, "MiB"
	case n >= 1<<10:
		return 1 << 10, "KiB"
	default:
		return 1, "bytes"
	}
}

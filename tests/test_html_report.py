import json

import numpy as np

from medxai_desktop.core.reports import HtmlReport, write_csv, write_json


def test_report_is_one_self_contained_file(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = HtmlReport("ROAD <test>", subtitle="3 images")
    report.add_heading("Scores")
    report.add_table([{"method": "gradcam", "mean": 0.123456, "n": 3, "p": float("nan")},
                      {"method": "layercam", "mean": 1e-6, "n": 3}], caption="means")
    figure, axis = plt.subplots()
    axis.plot([1, 2, 3])
    report.add_figure(figure, "a curve")
    report.add_image(np.zeros((8, 8, 3), np.uint8), "one image")
    report.add_image(np.full((8, 8, 3), 255, np.uint8), "another")
    text = report.write(tmp_path / "r.html").read_text()
    assert "ROAD &lt;test&gt;" in text and "<td>0.123</td>" in text and "<td>n/a</td>" in text
    assert text.count("data:image/png;base64,") == 3
    assert text.count('<div class="gallery">') == 1
    assert "http://" not in text and "https://" not in text and "<script" not in text


def test_csv_and_json_hold_every_number(tmp_path):
    rows = [{"a": 1, "b": 0.5}, {"a": 2, "c": "x"}]
    lines = write_csv(tmp_path / "t.csv", rows).read_text().splitlines()
    assert lines == ["a,b,c", "1,0.5,", "2,,x"]
    data = json.loads(write_json(tmp_path / "t.json", {"v": np.float32(0.25), "m": np.eye(2)}).read_text())
    assert data == {"v": 0.25, "m": [[1.0, 0.0], [0.0, 1.0]]}

// The resnet serve page: sends a dropped or picked image to /v1/predict?cam=1 and draws the answer.
const $ = (id) => document.getElementById(id);
let classes = [];

function show(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

async function loadModel() {
  const res = await fetch('/v1/model');
  const model = await res.json();
  classes = model.classes;
  const p = model.preprocess;
  $('model').textContent =
    `${model.arch}, ${model.numClasses} classes, ${p.inChannels === 1 ? 'gray' : 'RGB'} ${p.imgSize}×${p.imgSize}`;
  $('classes').replaceChildren(
    ...classes.map((name) => {
      const li = document.createElement('li');
      li.textContent = name;
      return li;
    }),
  );
  if (model.reports.length > 0) {
    $('report-images').replaceChildren(
      ...model.reports.map((file) => {
        const img = document.createElement('img');
        img.src = `/v1/report/${encodeURIComponent(file)}`;
        img.alt = file;
        return img;
      }),
    );
    $('report').hidden = false;
  }
}

function drawBars(top) {
  $('bars').replaceChildren(
    ...top.map((t) => {
      const li = document.createElement('li');
      const label = document.createElement('div');
      label.className = 'bar-label';
      const name = document.createElement('span');
      name.textContent = t.class;
      const prob = document.createElement('span');
      prob.textContent = `${(t.prob * 100).toFixed(1)}%`;
      label.append(name, prob);
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.style.width = `${(t.prob * 100).toFixed(2)}%`;
      li.append(label, bar);
      return li;
    }),
  );
}

async function predict(file) {
  if (!file) return;
  show(`classifying ${file.name}…`);
  const reader = new FileReader();
  reader.onload = () => {
    $('preview').src = reader.result;
  };
  reader.readAsDataURL(file);
  const res = await fetch('/v1/predict?topk=5&cam=1', {
    method: 'POST',
    headers: { 'content-type': file.type || 'application/octet-stream' },
    body: file,
  });
  const answer = await res.json();
  if (!res.ok) {
    show(`${file.name}: ${answer.error} (HTTP ${res.status})`, true);
    return;
  }
  drawBars(answer.top);
  $('cam-view').src = answer.view;
  $('cam-heat').src = answer.heatmap;
  $('cam-class').textContent = classes[answer.camIndex] ?? String(answer.camIndex);
  $('timing').textContent = `answered in ${answer.ms} ms`;
  $('result').hidden = false;
  show(`${file.name}: ${answer.top[0].class}`);
}

const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  predict(e.dataTransfer.files[0]).catch((err) => show(String(err), true));
});
$('file').addEventListener('change', (e) => predict(e.target.files[0]).catch((err) => show(String(err), true)));
$('opacity').addEventListener('input', (e) => {
  $('cam-heat').style.opacity = e.target.value;
});
loadModel().catch((err) => show(`cannot load the model description: ${err}`, true));

import type { FastifyApp } from './emulator.ts';
import type { StatusSnapshot } from './status.ts';

/** `_` cannot start a bucket name, so these paths never shadow an S3 route. */
export const STATUS_PATH = '/_s3dr/status';
export const PAGE_PATH = '/_s3dr/';

const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>s3-dr local</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#1b1f24;background:#f6f8fa}
h1{font-size:18px;margin:0 0 16px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:12px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px}
.card .v{font-size:22px;font-weight:600}.card .l{color:#57606a}
.bad .v{color:#cf222e}
svg{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin-top:16px}
</style></head>
<body><h1>s3-dr — local pipeline</h1>
<div class="grid" id="cards"></div>
<svg id="chart" width="720" height="180" role="img" aria-label="objects copied per second and queue depth"></svg>
<h2 style="font-size:16px;margin:16px 0 8px">Jobs</h2>
<table id="jobs" style="background:#fff;border:1px solid #d0d7de;border-collapse:collapse"></table>
<p id="updated" class="l"></p>
<script>
const fields = [
  ['eventsIngested','Events in'],['objectsCopied','Objects copied'],['bytesCopied','Bytes copied'],
  ['objectsDeleted','Objects deleted'],['objectsSkipped','Skipped (identical)'],['objectsRetained','Retained deletes'],
  ['objectsUnreplicable','Unreplicable (archived, SSE-C)'],['objectsThawing','Thawing'],
  ['failures','Replicate failures'],['queueDepth','Queue depth'],['queueInFlight','In flight'],['dlqDepth','DLQ depth'],
  ['lagP50Ms','Lag p50 (ms)'],['lagP99Ms','Lag p99 (ms)']];
function render(s){
  const cards = fields.map(([k,l])=>{const v=s[k]; const bad=(k==='dlqDepth'||k==='failures')&&v>0;
    return '<div class="card'+(bad?' bad':'')+'" data-field="'+k+'"><div class="v">'+(v===undefined||v===null?'-':Math.round(v))+'</div><div class="l">'+l+'</div></div>';});
  const vc = s.verify && s.verify.lastCounts;
  if (vc) for (const [k,v] of Object.entries(vc)) cards.push('<div class="card'+((k==='missing'||k==='mismatched')&&v>0?' bad':'')+'" data-field="verify.'+k+'"><div class="v">'+v+'</div><div class="l">Verify: '+k+'</div></div>');
  document.getElementById('cards').innerHTML = cards.join('');
  const pts = s.series; const svg = document.getElementById('chart');
  if (pts.length > 1) {
    const rates = pts.slice(1).map((p,i)=>(p.copied+p.deleted)-(pts[i].copied+pts[i].deleted));
    const depth = pts.slice(1).map(p=>p.queueDepth);
    const max = Math.max(1,...rates,...depth); const w=720,h=180;
    const line=(vals,color)=>'<polyline fill="none" stroke="'+color+'" stroke-width="2" points="'+vals.map((v,i)=>(i*(w/(vals.length-1||1))).toFixed(1)+','+(h-8-(v/max)*(h-16)).toFixed(1)).join(' ')+'"/>';
    svg.innerHTML = line(rates,'#0969da')+line(depth,'#bf8700')+'<text x="8" y="16" fill="#0969da">replicated/s</text><text x="120" y="16" fill="#bf8700">queue depth</text>';
  }
  const esc = (t) => String(t).replace(/[&<>]/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;'})[c]);
  document.getElementById('jobs').innerHTML = (s.jobs||[]).map((j)=>'<tr data-job="'+esc(j.job)+'"><td style="padding:4px 8px">'+esc(j.job)+'</td><td style="padding:4px 8px" class="'+(j.state==='failed'?'bad':'')+'">'+esc(j.state)+'</td><td style="padding:4px 8px">'+esc(j.summary)+'</td></tr>').join('') || '<tr><td style="padding:4px 8px">no jobs yet</td></tr>';
  document.getElementById('updated').textContent = 'updated '+new Date().toLocaleTimeString()+' · uptime '+s.uptimeSeconds+' s';
}
async function tick(){ try{ render(await (await fetch('${STATUS_PATH}')).json()); }catch(e){} setTimeout(tick,1000); }
tick();
</script></body></html>`;

/** Serves the local status page and its JSON on the emulator's port. */
export function registerStatusPage(
  app: FastifyApp,
  snapshot: () => StatusSnapshot | Promise<StatusSnapshot>,
): void {
  app.get(STATUS_PATH, async (_request, reply) => {
    reply.header('content-type', 'application/json').header('cache-control', 'no-store');
    return JSON.stringify(await snapshot());
  });
  app.get(PAGE_PATH, async (_request, reply) => {
    reply.header('content-type', 'text/html; charset=utf-8');
    return page;
  });
}

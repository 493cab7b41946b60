%%% mod_xmpp_maildir_outbox: mod_xmpp_maildir's durable outbox (docs/protocol.md, "ejabberd").
%%%
%%% Delivery to the component is at-least-once. Each copy is written to a Mnesia disc_copies
%%% table (xmpp_maildir_outbox) and the transaction log is synced before it is sent (group commit:
%%% one writer per host writes and syncs every copy waiting for it at once, see store/2); it is deleted
%%% only when the component answers with an IQ result, which it sends once the mail is durably in
%%% the Maildir. Unconfirmed copies are sent again in order when the component (re)connects, after
%%% a `wait` error (with backoff), after a timeout, and when ejabberd restarts. The component drops
%%% repeats by the copy's id.
%%%
%%% The table functions (create_table/0, write/3) run in any process; the rest is the state of
%%% the outbox, kept by mod_xmpp_maildir's process for the host, which hands it every message and
%%% timer that concerns the outbox.
-module(mod_xmpp_maildir_outbox).

%% The table
-export([create_table/0, write/3]).
%% The outbox, in mod_xmpp_maildir's process
-export([open/2, reconfigure/2, close/1, add/4, reply/3, component_connected/1,
         component_disconnected/1, handle_info/2]).
%% The component's answers, read in the routing process
-export([answer/1]).
-export_type([outbox/0, answer/0]).

-include("logger.hrl").
-include("xmpp.hrl").

-define(TABLE, xmpp_maildir_outbox).
%% How long to wait for Mnesia to load the outbox table at start: it is small (unconfirmed copies).
-define(TABLE_WAIT_MS, 60000).
%% An fsync takes milliseconds; a sender waiting this long means the disk is gone. The copy is then
%% sent anyway (and logged), as when the write itself fails.
-define(SYNC_TIMEOUT_MS, 60000).

%% What the component answers when a copy can never be stored (docs/protocol.md, "A refusal"):
%% resending cannot help, so the copy is dropped. Other cancel/modify errors on a copy come from
%% ejabberd's routing (no route to the component: remote-server-not-found/-timeout,
%% service-unavailable) and are retried like `wait`.
-define(REFUSALS, ['not-allowed', 'bad-request', 'jid-malformed', 'policy-violation',
                   'internal-server-error']).

%% Copy protocol v1 (docs/protocol.md, "Batches"): several copies in one IQ when the component
%% lists this feature in its disco#info.
-define(NS_COPY_V0, <<"urn:xmpp-maildir:copy:0">>).
-define(NS_COPY_V1, <<"urn:xmpp-maildir:copy:1">>).
-define(MAX_BATCH, 64).
%% An old component's answer to a batch it does not understand: back to single copies.
-define(NO_BATCHES, ['service-unavailable', 'feature-not-implemented']).

-type seq() :: {integer(), integer()}.
-type answer() :: result | {error, atom(), atom(), binary()}
                | {disco, boolean()}
                | {batch, {copies, [{binary(), answer()}]} | {error, answer(), boolean()}}.

-record(xmpp_maildir_outbox, {id :: binary(), host :: binary(), seq :: seq(), copy :: fxml:xmlel()}).

-record(outbox, {host :: binary(),
                 component :: binary(),
                 window :: pos_integer(),
                 confirm_timeout :: pos_integer(),
                 retry_min :: pos_integer(),
                 retry_max :: pos_integer(),
                 retry_delay :: pos_integer(),
                 %% id -> {seq, copy element}: every unconfirmed copy
                 pending = #{} :: #{binary() => {seq(), fxml:xmlel()}},
                 %% copies waiting to be sent, oldest first
                 queue = gb_sets:empty() :: gb_sets:set({seq(), binary()}),
                 %% id -> confirmation timer of the copies sent and not yet confirmed
                 inflight = #{} :: #{binary() => reference()},
                 paused = false :: boolean(),
                 retry_timer :: reference() | undefined,
                 %% Does the component take batches (v1)? unknown until its disco#info answers;
                 %% until then, and on any doubt, single copies (v0).
                 batching = unknown :: unknown | {asked, binary()} | boolean(),
                 %% batch IQ id -> the copy ids it carries
                 batches = #{} :: #{binary() => [binary()]},
                 %% a pump is due at the end of this turn (the mailbox's copies then go together)
                 pump_due = false :: boolean()}).
-opaque outbox() :: #outbox{}.

%%%===================================================================
%%% The table: Mnesia
%%%===================================================================
-spec create_table() -> ok | {error, term()}.
create_table() ->
    case ejabberd_mnesia:create(mod_xmpp_maildir, ?TABLE,
                                [{disc_copies, [node()]},
                                 {attributes, record_info(fields, xmpp_maildir_outbox)},
                                 {index, [host]}]) of
        {atomic, _} -> wait_for_table();
        ok -> wait_for_table();
        Err -> {error, Err}
    end.

wait_for_table() ->
    case mnesia:wait_for_tables([?TABLE], ?TABLE_WAIT_MS) of
        ok -> ok;
        Err -> {error, Err}
    end.

%% Durable before it is sent: called in the routing process, and returns once the copy is on disk
%% (or could not be put there), with the copy's place in the sending order.
-spec write(binary(), binary(), fxml:xmlel()) -> {seq(), ok | {error, term()}}.
write(Host, Id, Copy) ->
    %% Orders copies across restarts (the clock) and within one (the counter); a single sender's
    %% messages pass the hooks one after another in its own process, so they keep their order.
    Seq = {erlang:system_time(microsecond), erlang:unique_integer([monotonic, positive])},
    {Seq, store(Host, #xmpp_maildir_outbox{id = Id, host = Host, seq = Seq, copy = Copy})}.

%% Group commit. The routing process hands the record to the host's writer and waits for its
%% answer. The writer takes every record waiting in its mailbox, writes each with
%% mnesia:dirty_write/1 (which appends it to Mnesia's transaction log, LATEST.LOG, through
%% disk_log:alog from the writer itself), then calls mnesia:sync_log/0 once: disk_log handles one
%% sender's requests in order, so that sync writes and fsyncs every record of the group, and only
%% then are the waiting routing processes answered. Those arriving meanwhile share the next sync.
%% After a SIGKILL, Mnesia replays LATEST.LOG at start (a torn last record is cut by disk_log's
%% repair), so every copy whose routing process was answered is back in the table.
%% Before (until 2026-12-01): one mnesia:sync_transaction per copy in the routing process, then
%% a shared sync_log; the transaction's locks and commit protocol cost more than the write itself,
%% and a transaction buys nothing here (one record, one key, never read by another writer).
writer_name(Host) ->
    gen_mod:get_module_proc(Host, mod_xmpp_maildir_syncer).

start_writer(Host) ->
    Pid = proc_lib:spawn_link(fun writer_loop/0),
    register(writer_name(Host), Pid),
    ok.

writer_loop() ->
    receive
        {write, _, _, _} = First ->
            Group = [First | waiting_writes()],
            Result = write_and_sync([Rec || {write, _, _, Rec} <- Group]),
            lists:foreach(fun({write, Pid, Ref, _}) -> Pid ! {Ref, Result} end, Group),
            writer_loop()
    end.

waiting_writes() ->
    receive
        {write, _, _, _} = Next -> [Next | waiting_writes()]
    after 0 ->
        []
    end.

%% mnesia:dirty_write/1 exits with {aborted, Reason} when it cannot write (e.g. the table is gone).
write_and_sync(Recs) ->
    try
        lists:foreach(fun mnesia:dirty_write/1, Recs),
        mnesia:sync_log()
    catch
        exit:{aborted, Why} -> {error, Why};
        Class:Why -> {error, {Class, Why}}
    end.

store(Host, Rec) ->
    case whereis(writer_name(Host)) of
        undefined ->
            %% The writer is being restarted (handle_info/2): write and sync here.
            write_and_sync([Rec]);
        Writer ->
            Ref = erlang:monitor(process, Writer),
            Writer ! {write, self(), Ref, Rec},
            receive
                {Ref, Result} ->
                    erlang:demonitor(Ref, [flush]),
                    Result;
                {'DOWN', Ref, process, _, Why} ->
                    {error, {writer_down, Why}}
            after ?SYNC_TIMEOUT_MS ->
                    erlang:demonitor(Ref, [flush]),
                    {error, sync_timeout}
            end
    end.

%% Losing a delete only means the copy is sent once more after a restart, which the component
%% confirms without storing it again.
forget(Id) ->
    mnesia:dirty_delete(?TABLE, Id).

%%%===================================================================
%%% The outbox of one host, in mod_xmpp_maildir's process for it
%%%===================================================================

%% The writer is linked to the calling process, which traps exits and passes the 'EXIT' on to
%% handle_info/2. Copies left by an earlier run are queued, to be sent at the first pump.
-spec open(binary(), gen_mod:opts()) -> outbox().
open(Host, Opts) ->
    Outbox = apply_opts(#outbox{host = Host}, Opts),
    start_writer(Host),
    load(Outbox#outbox{retry_delay = Outbox#outbox.retry_min}).

-spec reconfigure(gen_mod:opts(), outbox()) -> outbox().
reconfigure(Opts, Outbox) ->
    pump(apply_opts(Outbox, Opts)).

%% Unconfirmed copies stay in the table and are sent again when the module starts.
-spec close(outbox()) -> ok.
close(#outbox{host = Host}) ->
    case whereis(writer_name(Host)) of
        undefined -> ok;
        Pid -> unlink(Pid), exit(Pid, kill), ok
    end.

%% A copy write/3 has stored (or failed to store): send it in its turn.
-spec add(binary(), seq(), fxml:xmlel(), outbox()) -> outbox().
add(Id, Seq, Copy, #outbox{batching = true} = Outbox) ->
    %% The pump runs after the messages already in the process's mailbox: the copies added in
    %% this turn go out together.
    schedule_pump(enqueue(Id, Seq, Copy, Outbox));
add(Id, Seq, Copy, Outbox) ->
    pump(enqueue(Id, Seq, Copy, Outbox)).

%% With batches, a confirmation frees one place in the window; the pump waits for the end of the
%% turn (all the copies of a batch result, the copies added meanwhile), so the next batch is full.
pump_soon(#outbox{batching = true} = Outbox) ->
    schedule_pump(Outbox);
pump_soon(Outbox) ->
    pump(Outbox).

schedule_pump(#outbox{pump_due = true} = Outbox) ->
    Outbox;
schedule_pump(Outbox) ->
    self() ! pump,
    Outbox#outbox{pump_due = true}.

-spec reply(binary(), answer(), outbox()) -> outbox().
reply(Id, {disco, Takes}, #outbox{batching = {asked, Id}, component = Component} = Outbox) ->
    case Takes of
        true -> ?INFO_MSG("~ts takes batches of copies (~ts)", [Component, ?NS_COPY_V1]);
        false -> ?INFO_MSG("~ts does not take batches of copies; sending them one by one (~ts)", [Component, ?NS_COPY_V0])
    end,
    pump(Outbox#outbox{batching = Takes});
reply(_Id, {disco, _}, Outbox) ->
    Outbox;
reply(BatchId, {batch, Answer}, #outbox{batches = Batches} = Outbox) ->
    case maps:take(BatchId, Batches) of
        {Ids, Batches1} -> batch_reply(Ids, Answer, Outbox#outbox{batches = Batches1});
        error -> Outbox
    end;
reply(Id, Answer, #outbox{pending = Pending} = Outbox) ->
    case maps:is_key(Id, Pending) of
        true -> handle_reply(Id, Answer, Outbox);
        false -> Outbox
    end.

-spec component_connected(outbox()) -> outbox().
component_connected(Outbox) ->
    resume("component connected", ask_for_batches(Outbox#outbox{batching = unknown})).

%% Copies in flight on the connection that went away are lost with it. If no connection is left,
%% take them all back now; if others remain, those copies may be in flight there, so leave each
%% to its own answer or confirmation timeout.
-spec component_disconnected(outbox()) -> outbox().
component_disconnected(#outbox{component = Component, inflight = Inflight} = Outbox) ->
    case ejabberd_router:is_my_route(Component) of
        true -> Outbox;
        false -> pause_and_retry("component disconnected",
                                 requeue(maps:keys(Inflight), Outbox#outbox{batching = unknown, batches = #{}}))
    end.

%% The outbox's own messages: its timers, the first pump, its writer's exit.
-spec handle_info(term(), outbox()) -> {ok, outbox()} | unknown.
handle_info(pump, Outbox) ->
    {ok, pump(ask_for_batches(Outbox#outbox{pump_due = false}))};
handle_info({timeout, Ref, retry}, #outbox{retry_timer = Ref} = Outbox) ->
    {ok, pump(Outbox#outbox{paused = false, retry_timer = undefined})};
handle_info({timeout, Ref, {confirm, Id}}, #outbox{inflight = Inflight, confirm_timeout = T} = Outbox) ->
    case maps:find(Id, Inflight) of
        {ok, Ref} ->
            ?WARNING_MSG("Copy ~ts not confirmed within ~Bs", [Id, T div 1000]),
            {ok, pause_and_retry("confirmation timed out", requeue([Id], Outbox))};
        _ ->
            {ok, Outbox}
    end;
handle_info({timeout, _StaleRef, _}, Outbox) ->
    {ok, Outbox};
handle_info({'EXIT', _Pid, _Why} = Exit, #outbox{host = Host} = Outbox) ->
    %% The writer is linked to the process; should it ever die, senders fall back to writing and
    %% syncing themselves until it is back.
    case whereis(writer_name(Host)) of
        undefined ->
            ?WARNING_MSG("Outbox writer stopped (~p); restarting it", [Exit]),
            start_writer(Host);
        _ ->
            ok
    end,
    {ok, Outbox};
handle_info(_Info, _Outbox) ->
    unknown.

%% The component's answer to a copy, a batch or our disco#info, read from the IQ in the routing
%% process. Copy ids are "xmd-" and alphanumerics, so they never start like the other two.
-spec answer(iq()) -> answer().
answer(#iq{id = <<"xmd-disco-", _/binary>>} = IQ) ->
    {disco, takes_batches(IQ)};
answer(#iq{id = <<"xmd-b-", _/binary>>, type = result} = IQ) ->
    case copies_el(IQ) of
        #xmlel{children = Children} ->
            {batch, {copies, [{Id, copy_answer(C)} || #xmlel{name = <<"copy">>} = C <- Children,
                                                      Id <- [fxml:get_tag_attr_s(<<"id">>, C)], Id /= <<>>]}};
        false ->
            {batch, {copies, []}}
    end;
answer(#iq{id = <<"xmd-b-", _/binary>>} = IQ) ->
    {batch, {error, single_answer(IQ), copies_el(IQ) /= false}};
answer(IQ) ->
    single_answer(IQ).

takes_batches(#iq{type = result} = IQ) ->
    try xmpp:get_subtag(IQ, #disco_info{}) of
        #disco_info{features = Features} -> lists:member(?NS_COPY_V1, Features);
        false -> false
    catch _:_ -> false
    end;
takes_batches(_) ->
    false.

copies_el(IQ) ->
    case [El || #xmlel{name = <<"copies">>} = El <- xmpp:get_els(IQ),
                fxml:get_tag_attr_s(<<"xmlns">>, El) == ?NS_COPY_V1] of
        [El | _] -> El;
        [] -> false
    end.

%% A copy of a batch result: confirmed, or its <error/> with the v0 types and conditions.
copy_answer(Copy) ->
    case fxml:get_subtag(Copy, <<"error">>) of
        false ->
            result;
        Error ->
            try xmpp:decode(Error, ?NS_CLIENT, []) of
                #stanza_error{type = Type, reason = Reason, text = Text} ->
                    {error, Type, Reason, xmpp:get_text(Text)};
                _ ->
                    {error, cancel, undefined, <<"malformed error">>}
            catch _:_ ->
                    {error, cancel, undefined, <<"malformed error">>}
            end
    end.

single_answer(#iq{type = result}) ->
    result;
single_answer(#iq{type = error} = IQ) ->
    try xmpp:get_error(IQ) of
        #stanza_error{type = Type, reason = Reason, text = Text} ->
            {error, Type, Reason, xmpp:get_text(Text)};
        _ ->
            {error, cancel, undefined, <<"error without a condition">>}
    catch _:_ ->
            {error, cancel, undefined, <<"malformed error">>}
    end.

%%%===================================================================
%%% Window, confirmations, retries
%%%===================================================================
load(#outbox{host = Host} = Outbox) ->
    Stored = mnesia:dirty_index_read(?TABLE, Host, #xmpp_maildir_outbox.host),
    Outbox1 = lists:foldl(
                fun(#xmpp_maildir_outbox{id = Id, seq = Seq, copy = Copy}, Acc) ->
                        enqueue(Id, Seq, Copy, Acc)
                end, Outbox, Stored),
    case length(Stored) of
        0 -> ok;
        N -> ?INFO_MSG("Re-sending ~B unconfirmed copies to ~ts", [N, Outbox#outbox.component])
    end,
    Outbox1.

apply_opts(Outbox, Opts) ->
    Outbox#outbox{component = jid:nameprep(gen_mod:get_opt(component, Opts)),
                  window = gen_mod:get_opt(window, Opts),
                  confirm_timeout = gen_mod:get_opt(confirm_timeout, Opts),
                  retry_min = gen_mod:get_opt(retry_min, Opts),
                  retry_max = gen_mod:get_opt(retry_max, Opts)}.

enqueue(Id, Seq, Copy, #outbox{pending = Pending, queue = Queue} = Outbox) ->
    Outbox#outbox{pending = Pending#{Id => {Seq, Copy}}, queue = gb_sets:add({Seq, Id}, Queue)}.

pump(#outbox{paused = true} = Outbox) ->
    Outbox;
pump(#outbox{inflight = Inflight, window = Window} = Outbox) when map_size(Inflight) >= Window ->
    Outbox;
pump(#outbox{queue = Queue, component = Component} = Outbox) ->
    case gb_sets:is_empty(Queue) of
        true ->
            Outbox;
        false ->
            %% Without a route to the component, ejabberd would try it over s2s; wait for
            %% component_connected (or the backoff) instead.
            case ejabberd_router:is_my_route(Component) of
                true when Outbox#outbox.batching == true ->
                    Room = Outbox#outbox.window - map_size(Outbox#outbox.inflight),
                    {Ids, Rest} = take(min(Room, ?MAX_BATCH), Queue, []),
                    pump(send_batch(Ids, Outbox#outbox{queue = Rest}));
                true ->
                    {{_Seq, Id}, Rest} = gb_sets:take_smallest(Queue),
                    pump(send_one(Id, Outbox#outbox{queue = Rest}));
                false ->
                    pause_and_retry("component not connected", Outbox)
            end
    end.

%% The oldest N copies of the queue, oldest first.
take(0, Queue, Acc) ->
    {lists:reverse(Acc), Queue};
take(N, Queue, Acc) ->
    case gb_sets:is_empty(Queue) of
        true -> {lists:reverse(Acc), Queue};
        false ->
            {{_Seq, Id}, Rest} = gb_sets:take_smallest(Queue),
            take(N - 1, Rest, [Id | Acc])
    end.

%% One copy goes as v0 (the module's choice, docs/protocol.md); several as one v1 batch.
send_batch([Id], Outbox) ->
    send_one(Id, Outbox);
send_batch(Ids0, #outbox{pending = Pending, inflight = Inflight0, batches = Batches, host = Host,
                         component = Component, confirm_timeout = Timeout} = Outbox) ->
    Ids = [Id || Id <- Ids0, maps:is_key(Id, Pending), not maps:is_key(Id, Inflight0)],
    case Ids of
        [] -> Outbox;
        [One] -> send_one(One, Outbox);
        _ ->
            BatchId = <<"xmd-b-", (p1_rand:get_alphanum_string(16))/binary>>,
            Copies = [batch_copy(Id, element(2, maps:get(Id, Pending))) || Id <- Ids],
            Inflight = lists:foldl(fun(Id, Acc) ->
                                           Acc#{Id => erlang:start_timer(Timeout, self(), {confirm, Id})}
                                   end, Inflight0, Ids),
            ejabberd_router:route(#iq{type = set, id = BatchId, from = jid:make(Host),
                                      to = jid:make(Component),
                                      sub_els = [#xmlel{name = <<"copies">>,
                                                        attrs = [{<<"xmlns">>, ?NS_COPY_V1}],
                                                        children = Copies}]}),
            Outbox#outbox{inflight = Inflight, batches = Batches#{BatchId => Ids}}
    end.

%% A v0 <copy/> as kept in the outbox, as a copy of a batch: the same attributes and child, the
%% namespace of <copies/>, and the copy's id.
batch_copy(Id, #xmlel{attrs = Attrs} = Copy) ->
    Copy#xmlel{attrs = [{<<"id">>, Id} | lists:keydelete(<<"xmlns">>, 1, Attrs)]}.

%% Each copy's answer as if it had come alone. A whole-batch error from a component that does
%% not know batches: back to single copies on this connection, and these copies re-sent singly
%% with their same ids.
batch_reply(Ids, {copies, Answers}, Outbox) ->
    lists:foldl(fun({Id, Answer}, Acc) ->
                        case lists:member(Id, Ids) of
                            true -> reply(Id, Answer, Acc);
                            false -> Acc
                        end
                end, Outbox, Answers);
batch_reply(Ids, {error, {error, _Type, Condition, Text} = Answer, HasCopies}, #outbox{component = Component} = Outbox) ->
    case lists:member(Condition, ?NO_BATCHES) orelse (Condition == 'bad-request' andalso not HasCopies) of
        true ->
            ?WARNING_MSG("~ts refused a batch of copies (~p: ~ts); sending them one by one",
                         [Component, Condition, Text]),
            pump(requeue(Ids, Outbox#outbox{batching = false}));
        false ->
            lists:foldl(fun(Id, Acc) -> reply(Id, Answer, Acc) end, Outbox, Ids)
    end;
batch_reply(Ids, {error, Answer, _}, Outbox) ->
    lists:foldl(fun(Id, Acc) -> reply(Id, Answer, Acc) end, Outbox, Ids).

%% disco#info to the component, once per connection, when it is connected.
ask_for_batches(#outbox{batching = unknown, host = Host, component = Component} = Outbox) ->
    case ejabberd_router:is_my_route(Component) of
        true ->
            Id = <<"xmd-disco-", (p1_rand:get_alphanum_string(16))/binary>>,
            ejabberd_router:route(#iq{type = get, id = Id, from = jid:make(Host),
                                      to = jid:make(Component), sub_els = [#disco_info{}]}),
            Outbox#outbox{batching = {asked, Id}};
        false ->
            Outbox
    end;
ask_for_batches(Outbox) ->
    Outbox.

send_one(Id, #outbox{pending = Pending, inflight = Inflight, host = Host, component = Component,
                     confirm_timeout = Timeout} = Outbox) ->
    case {maps:find(Id, Pending), maps:is_key(Id, Inflight)} of
        {{ok, {_Seq, Copy}}, false} ->
            Timer = erlang:start_timer(Timeout, self(), {confirm, Id}),
            ejabberd_router:route(#iq{type = set, id = Id, from = jid:make(Host),
                                      to = jid:make(Component), sub_els = [Copy]}),
            Outbox#outbox{inflight = Inflight#{Id => Timer}};
        _ ->
            Outbox
    end.

handle_reply(Id, result, #outbox{retry_min = Min} = Outbox) ->
    pump_soon((done(Id, Outbox))#outbox{retry_delay = Min});
handle_reply(Id, {error, wait, Condition, Text}, Outbox) ->
    %% Disk full, over quota, shutting down: keep the copy and try again later.
    pause_and_retry(io_lib:format("~p: ~ts", [Condition, Text]), requeue([Id], Outbox));
handle_reply(Id, {error, Type, Condition, Text}, Outbox) ->
    case lists:member(Condition, ?REFUSALS) of
        true ->
            %% A permanent refusal: resending cannot help. The message itself was delivered or
            %% stored offline as usual; only the archive copy is given up.
            ?ERROR_MSG("Component refused copy ~ts (~p/~p: ~ts); removing it from the outbox",
                       [Id, Type, Condition, Text]),
            pump_soon(done(Id, Outbox));
        false ->
            pause_and_retry(io_lib:format("~p/~p: ~ts", [Type, Condition, Text]), requeue([Id], Outbox))
    end.

done(Id, #outbox{pending = Pending, inflight = Inflight} = Outbox) ->
    case maps:find(Id, Inflight) of
        {ok, Timer} -> erlang:cancel_timer(Timer);
        error -> ok
    end,
    forget(Id),
    Outbox#outbox{pending = maps:remove(Id, Pending), inflight = maps:remove(Id, Inflight)}.

%% Sending stops until the backoff timer fires or the component connects. Unlike the Prosody
%% module, copies still in flight are not all taken back: each is answered on its own (result,
%% `wait`, refusal) or times out, and only then goes back to the queue (which keeps seq order).
%% With one connection this ends the same way; with several (ejabberd spreads stanzas over them)
%% taking back a copy that another instance is still storing would have it stored twice, once
%% by each (seen in the rolling-restart test).
pause_and_retry(_Why, #outbox{paused = true} = Outbox) ->
    Outbox;
pause_and_retry(Why, #outbox{retry_delay = Delay, retry_max = Max, component = Component} = Outbox) ->
    ?INFO_MSG("Pausing copies to ~ts (~ts); ~B waiting, retrying in ~Bs",
              [Component, Why, gb_sets:size(Outbox#outbox.queue), Delay div 1000]),
    Timer = erlang:start_timer(Delay, self(), retry),
    Outbox#outbox{paused = true, retry_timer = Timer, retry_delay = min(Delay * 2, Max)}.

%% With several connections for one component domain (ejabberd spreads stanzas over them), one
%% connecting says nothing about copies in flight on the others: keep those, and only wake up a
%% paused outbox.
resume(Why, #outbox{paused = true, retry_timer = Timer, retry_min = Min} = Outbox0) ->
    cancel(Timer),
    Outbox = Outbox0#outbox{paused = false, retry_timer = undefined, retry_delay = Min},
    ?DEBUG("Resuming copies to ~ts (~ts); ~B waiting",
           [Outbox#outbox.component, Why, gb_sets:size(Outbox#outbox.queue)]),
    pump(Outbox);
resume(_Why, Outbox) ->
    pump(Outbox).

%% Copies in flight go back into the queue, to be sent again.
requeue(Ids, #outbox{inflight = Inflight, pending = Pending, queue = Queue} = Outbox) ->
    {Inflight1, Queue1} = lists:foldl(
                            fun(Id, {InAcc, QAcc}) ->
                                    case maps:take(Id, InAcc) of
                                        {Timer, InAcc1} ->
                                            erlang:cancel_timer(Timer),
                                            case maps:find(Id, Pending) of
                                                {ok, {Seq, _}} -> {InAcc1, gb_sets:add({Seq, Id}, QAcc)};
                                                error -> {InAcc1, QAcc}
                                            end;
                                        error ->
                                            {InAcc, QAcc}
                                    end
                            end, {Inflight, Queue}, Ids),
    Outbox#outbox{inflight = Inflight1, queue = Queue1}.

cancel(undefined) -> ok;
cancel(Timer) -> erlang:cancel_timer(Timer), ok.
